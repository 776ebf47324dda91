"""Lazy row views over a catalog's papers, and the JSON row a paper is stored as."""

from __future__ import annotations

import json
import mmap
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

import numpy as np

from rag.records import Paper

if TYPE_CHECKING:
    from rag.index.catalog.model import Catalog

T = TypeVar("T")


class _Rows(Sequence[T]):
    """A read-only sequence built on `_item(i)`: slices, negative indices, and element-wise
    equality with any sequence, as a list of the same items has."""

    __hash__ = None  # type: ignore[assignment]

    def _item(self, i: int) -> T:
        raise NotImplementedError

    @overload
    def __getitem__(self, i: int) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> list[T]: ...
    def __getitem__(self, i: int | slice) -> T | list[T]:
        if isinstance(i, slice):
            return [self._item(j) for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._item(i)

    def __iter__(self) -> Iterator[T]:
        return (self._item(i) for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))


class PaperTable(_Rows[Paper]):
    """Papers decoded from their JSON rows on access (the rows stay in the mapped file)."""

    def __init__(self, blob: bytes | mmap.mmap, offsets: np.ndarray) -> None:
        self._blob, self._offsets = blob, offsets

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def raw(self, i: int) -> bytes:
        """The paper's stored row as written (JSON)."""
        return bytes(self._blob[int(self._offsets[i]) : int(self._offsets[i + 1])])

    def row(self, i: int) -> list[Any]:
        """The paper's stored row (its last field is the chunk texts)."""
        return json.loads(self.raw(i))  # type: ignore[no-any-return]

    def texts_of(self, i: int) -> list[str]:
        """The paper's chunk texts."""
        return list(self.row(i)[-1])

    def _item(self, i: int) -> Paper:
        return _paper(self.row(i))


class TextsView(_Rows[list[str]]):
    """Each paper's chunk texts, read from a `PaperTable`'s or `MergedRows`' rows."""

    def __init__(self, table: PaperTable | MergedRows) -> None:
        self._table = table

    def __len__(self) -> int:
        return len(self._table)

    def _item(self, i: int) -> list[str]:
        return self._table.texts_of(i)


class MergedRows(_Rows[Paper]):
    """An updated catalog's papers: rows kept from the one before it (by position, copied as
    stored when written) and the papers an ingest wrote or relabelled."""

    def __init__(self, base: Catalog, entries: list[int | tuple[Paper, list[str]]]) -> None:
        self._base, self._entries = base, entries

    def __len__(self) -> int:
        return len(self._entries)

    def _item(self, i: int) -> Paper:
        entry = self._entries[i]
        return self._base.papers[entry] if isinstance(entry, int) else entry[0]

    def texts_of(self, i: int) -> list[str]:
        """The paper's chunk texts."""
        entry = self._entries[i]
        return list(self._base.texts[entry]) if isinstance(entry, int) else entry[1]

    def encoded(self) -> Iterator[tuple[str, bytes]]:
        """(paper id, stored row) of every paper, kept rows copied without decoding them."""
        base = self._base
        for entry in self._entries:
            if not isinstance(entry, int):
                yield entry[0].id, encode(*entry)
            elif isinstance(base.papers, PaperTable):
                yield base.index.ids[entry].decode(), base.papers.raw(entry)
            else:
                yield base.papers[entry].id, encode(base.papers[entry], base.texts[entry])


def _paper_row(paper: Paper, texts: list[str]) -> list[Any]:
    return [
        paper.id,
        paper.title,
        list(paper.authors),
        paper.year,
        paper.date,
        paper.url,
        paper.title_derived,
        paper.n_authors,
        paper.upvotes,
        list(paper.sources),
        [paper.doi, paper.arxiv_id, list(paper.source_ids)],
        texts,
    ]


def _paper(row: list[Any]) -> Paper:
    pid, title, authors, year, date, url, derived, n_authors, upvotes, sources = row[:10]
    doi, arxiv_id, source_ids = row[10]
    return Paper(
        pid,
        title,
        " ".join(row[11]),
        tuple(authors),
        year,
        date,
        url,
        derived,
        n_authors,
        upvotes,
        tuple(sources),
        doi,
        arxiv_id,
        tuple(source_ids),
    )


def encode(paper: Paper, texts: list[str]) -> bytes:
    """A paper's stored row (JSON bytes): its fields, then its chunk texts."""
    return json.dumps(_paper_row(paper, list(texts)), ensure_ascii=False).encode()
