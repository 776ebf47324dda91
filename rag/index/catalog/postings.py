"""Per-paper arrays and the author and source postings (CSR) of a catalog, and their builder."""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.records import Paper
from rag.text import fold


@dataclass(frozen=True)
class PaperIndex:
    """Per-paper arrays and the author and source postings, in catalog order."""

    ids: np.ndarray  # fixed-width bytes, sorted
    years: np.ndarray  # int16, 0 = unknown
    n_chunks: np.ndarray  # int32
    author_keys: list[str]  # distinct folded names, sorted
    author_names: list[str]  # a display form of each
    author_ptr: np.ndarray
    author_idx: np.ndarray
    sources: list[str]  # distinct source file names, sorted
    source_ptr: np.ndarray
    source_idx: np.ndarray

    def position(self, paper_id: str) -> int | None:
        """The catalog row of a paper id, or None."""
        key = paper_id.encode()
        i = int(np.searchsorted(self.ids, key))
        return i if i < len(self.ids) and self.ids[i] == key else None

    def author_papers(self, a: int) -> np.ndarray:
        """The rows of author number `a`'s papers."""
        return self.author_idx[self.author_ptr[a] : self.author_ptr[a + 1]]

    def source_papers(self, s: int) -> np.ndarray:
        """The rows of the papers read from source file number `s`."""
        return self.source_idx[self.source_ptr[s] : self.source_ptr[s + 1]]


class Postings:
    """(key, row) entries, a display name per key (the first one given), built into
    postings: the keys sorted, each with its rows in order (CSR)."""

    def __init__(
        self,
        keys: Sequence[str] = (),
        names: Sequence[str] = (),
        key_of: np.ndarray | None = None,
        row_of: np.ndarray | None = None,
    ) -> None:
        self.keys, self.names = list(keys), list(names)
        self.number = {k: i for i, k in enumerate(self.keys)}
        self.base_key = np.zeros(0, np.int64) if key_of is None else key_of
        self.base_row = np.zeros(0, np.int64) if row_of is None else row_of
        self.key_of, self.row_of = array("q"), array("q")

    @classmethod
    def moved(
        cls,
        keys: Sequence[str],
        names: Sequence[str],
        ptr: np.ndarray,
        idx: np.ndarray,
        unchanged: np.ndarray,
    ) -> Postings:
        """Saved postings with their rows moved to `unchanged[row]` (-1: dropped)."""
        key_of = np.repeat(np.arange(len(keys), dtype=np.int64), np.diff(np.asarray(ptr)))
        row_of = unchanged[np.asarray(idx)]
        keep = row_of >= 0
        return cls(keys, names, key_of[keep], row_of[keep])

    def add(self, row: int, pairs: Iterable[tuple[str, str]]) -> None:
        """Row `row` under each (key, name) pair's key, once per key."""
        seen: set[str] = set()
        for key, name in pairs:
            if key in seen:
                continue
            seen.add(key)
            if key not in self.number:
                self.number[key] = len(self.keys)
                self.keys.append(key)
                self.names.append(name)
            self.key_of.append(self.number[key])
            self.row_of.append(row)

    def build(self) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
        """(sorted keys with entries, their names, pointers, rows)."""
        all_key = np.concatenate([self.base_key, np.frombuffer(self.key_of, np.int64)])
        all_row = np.concatenate([self.base_row, np.frombuffer(self.row_of, np.int64)])
        by_name = sorted(range(len(self.keys)), key=self.keys.__getitem__)
        rank = np.empty(len(self.keys), dtype=np.int64)
        rank[by_name] = np.arange(len(self.keys))
        ranked = rank[all_key]
        counts = np.bincount(ranked, minlength=len(self.keys))
        used = [k for k in by_name if counts[rank[k]]]
        ptr = np.zeros(len(used) + 1, dtype=np.int64)
        np.cumsum(counts[counts > 0], out=ptr[1:])
        rows = all_row[np.lexsort((all_row, ranked))].astype(np.int32)
        return [self.keys[k] for k in used], [self.names[k] for k in used], ptr, rows


class IndexBuilder:
    """Collects a `PaperIndex`: paper by paper in catalog order, or from a saved index whose
    rows moved (`moved`) plus the papers written at their rows."""

    def __init__(self, authors: Postings | None = None, sources: Postings | None = None) -> None:
        self.ids: list[str] = []
        self.years: list[int] = []
        self.n_chunks: list[int] = []
        self.authors = authors or Postings()
        self.sources = sources or Postings()

    def add(self, paper: Paper, n_chunks: int) -> None:
        """The next paper in catalog order."""
        self.put(len(self.ids), paper)
        self.ids.append(paper.id)
        self.years.append(paper.year or 0)
        self.n_chunks.append(n_chunks)

    def put(self, row: int, paper: Paper) -> None:
        """A paper's authors and sources at catalog row `row`."""
        self.authors.add(row, ((fold(name), name) for name in paper.authors))
        self.sources.add(row, ((s, s) for s in paper.source_names))

    def build(self) -> PaperIndex:
        width = max((len(i.encode()) for i in self.ids), default=1)
        return self.finish(
            np.array([i.encode() for i in self.ids], dtype=f"S{width}"),
            np.array(self.years, dtype=np.int16),
            np.array(self.n_chunks, dtype=np.int32),
        )

    def finish(self, ids: np.ndarray, years: np.ndarray, n_chunks: np.ndarray) -> PaperIndex:
        """The index of these per-paper arrays and the postings collected."""
        keys, names, author_ptr, author_idx = self.authors.build()
        sources, _, source_ptr, source_idx = self.sources.build()
        return PaperIndex(
            ids,
            years,
            n_chunks,
            keys,
            names,
            author_ptr,
            author_idx,
            sources,
            source_ptr,
            source_idx,
        )
