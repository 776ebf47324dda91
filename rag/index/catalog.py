"""The catalog: the papers, chunk texts and BM25 matrix of an index, saved beside it.

Reading every chunk back from Chroma and tokenizing every abstract made each process's cold
load grow with the collection (96 s at 100k papers). Ingest therefore saves what the retriever
and `papers`/`stats` need under `data_dir/catalog/` (one per store location and collection).

Format 3 is a folder of flat files that a reader maps into memory instead of parsing, so
opening a catalog costs about the same at a million papers as at a hundred, and only the
pages a query touches become resident:

- `header.json`: format, generation stamp, embedder, chunking, counts;
- `rows.bin` + `rows.npy`: one JSON row per paper (sorted by id) and the row offsets; a
  `Paper` is decoded only when it is used (`PaperTable`);
- `ids.npy`, `years.npy`, `chunks.npy`: fixed-width paper ids (binary search), years,
  chunks per paper;
- `authors.json` + `author_ptr.npy`/`author_idx.npy`, `sources.json` + `source_*.npy`: the
  distinct folded author names and source files with their papers (CSR), for filters and
  author questions;
- `vocab.json` + `counts/indices/indptr/doc_len/scores.npy`: the BM25 matrix (CSC).

A file `<key>.json` beside the folders names the current one; writers make a new folder and
swap that pointer with `os.replace`, so a reader sees the old catalog or the new one. The
header carries a generation stamp that ingest also writes into the collection metadata (see
`rag.index.writer`); a catalog is only used while the two agree. A reader that finds none current
builds one from Chroma and saves it for the next process (`load`). Reading the papers needs
neither chromadb nor anything but NumPy.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import shutil
import tempfile
import time
import uuid
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

import numpy as np

from rag import identifiers
from rag.config import Settings
from rag.records import Paper
from rag.text import fold

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

    from rag.index.lexical import LexicalIndex

T = TypeVar("T")
FORMAT = 3  # 3: a folder of memory-mapped files; formats 1-2 (one zip) are rebuilt
HEADER = "header.json"
MATRIX = ("counts", "indices", "indptr", "doc_len", "scores")  # BM25, column-wise
STALE_WRITE_S = 3600  # an unfinished folder older than this is a crashed writer's


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
                yield entry[0].id, _encode(*entry)
            elif isinstance(base.papers, PaperTable):
                yield base.index.ids[entry].decode(), base.papers.raw(entry)
            else:
                yield base.papers[entry].id, _encode(base.papers[entry], base.texts[entry])


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


class _Postings:
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
    ) -> _Postings:
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


class _IndexBuilder:
    """Collects a `PaperIndex`: paper by paper in catalog order, or from a saved index whose
    rows moved (`moved`) plus the papers written at their rows."""

    def __init__(self, authors: _Postings | None = None, sources: _Postings | None = None) -> None:
        self.ids: list[str] = []
        self.years: list[int] = []
        self.n_chunks: list[int] = []
        self.authors = authors or _Postings()
        self.sources = sources or _Postings()

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


@dataclass(frozen=True)
class Catalog:
    """Every complete paper (sorted by id) with its chunk texts, and their BM25 index."""

    stamp: str | None
    embedder: str
    chunking: str
    stored_chunks: int  # chunks in the collection, half-written papers included
    papers: Sequence[Paper]
    texts: Sequence[list[str]]  # each paper's chunk texts in chunk order
    lexical: LexicalIndex | None  # None when read without it (`papers`, `stats`)
    index: PaperIndex


def in_memory(
    stamp: str | None,
    embedder: str,
    chunking: str,
    stored_chunks: int,
    rows: list[tuple[Paper, list[str]]],
    lexical: LexicalIndex | None,
) -> Catalog:
    """A catalog of papers held in memory (sorted here by id)."""
    rows = sorted(rows, key=lambda r: r[0].id)
    builder = _IndexBuilder()
    for paper, texts in rows:
        builder.add(paper, len(texts))
    papers = [p for p, _ in rows]
    return Catalog(
        stamp,
        embedder,
        chunking,
        stored_chunks,
        papers,
        [t for _, t in rows],
        lexical,
        builder.build(),
    )


def path_for(settings: Settings) -> Path:
    """The pointer file naming the catalog of the configured store location and collection."""
    key = f"{settings.store_location()}\0{settings.collection}".encode()
    return settings.data_dir / "catalog" / f"{hashlib.sha1(key).hexdigest()[:16]}.json"


LEXICAL_DOC = "title2-authors-abstract"


def lexical_doc(paper: Paper) -> str:
    """The text BM25 indexes for a paper (title twice, authors, abstract)."""
    return f"{paper.title}. {paper.title}. {', '.join(paper.authors)}. {paper.abstract}"


ReadProgress = Callable[[int, int], None]  # (chunks read, chunks in the collection)


def from_collection(
    collection: Collection, stamp: str | None, path: Path, progress: ReadProgress | None = None
) -> Path:
    """Write the catalog of every complete paper a collection holds; see `write`.

    Streamed: the chunks are spilled to a file beside the catalog and read back sorted by
    paper (`rag.index.store.iter_papers`), so memory holds about 30 bytes a chunk and the BM25
    counts, not the collection's papers and texts.
    """
    from rag.index.store import iter_papers, paper_from_metadata

    meta = collection.metadata or {}
    spill = path.with_name(f"{path.stem}.{uuid.uuid4().hex[:12]}")
    spill.mkdir(parents=True)
    (spill / ".writing").touch()  # removed by `_clean` if this process dies
    try:
        rows = (
            (identifiers.from_metadata(paper_from_metadata(m, " ".join(texts)), m), texts)
            for m, texts in iter_papers(collection, spill / "chunks.jsonl", progress)
        )
        return write_rows(
            rows,
            path,
            stamp,
            str(meta.get("embedder")),
            str(meta.get("chunking")),
            collection.count(),
        )
    finally:
        shutil.rmtree(spill, ignore_errors=True)


def updated(
    base: Catalog,
    stamp: str,
    stored_chunks: int,
    removed: set[str],
    changed: list[tuple[Paper, list[str] | None]],
) -> Catalog | None:
    """The catalog after an ingest, from the one before it and what the ingest changed.

    `removed` are paper ids no longer in the collection; `changed` are papers written or
    relabelled, with their chunk texts (None: unchanged texts, taken from `base`). Only the
    new texts are tokenized. None when `base` cannot be updated (no term counts).
    """
    from rag.index.lexical import tokenize

    if base.lexical is None or base.lexical.counts is None:
        return None
    position = {i.decode(): n for n, i in enumerate(base.index.ids.tolist())}
    rows: dict[str, tuple[Paper, list[str]] | int] = dict(position)  # int: unchanged base row
    fresh: set[str] = set()  # new texts: tokenized again
    for paper, texts in changed:
        if texts is None:  # relabelled: metadata from the ingest, texts (and BM25) kept
            texts = base.texts[position[paper.id]]
            paper = replace(paper, abstract=" ".join(texts))
        else:
            fresh.add(paper.id)
        rows[paper.id] = (paper, texts)
    for pid in removed:
        rows.pop(pid, None)
    order = sorted(rows)
    new_position = {pid: i for i, pid in enumerate(order)}
    kept = np.full(len(position), -1, dtype=np.int64)  # BM25: old document -> new one
    unchanged = kept.copy()  # rows and postings: old row -> new row
    for pid, old in position.items():
        if pid in new_position and pid not in fresh:
            kept[old] = new_position[pid]
            if isinstance(rows[pid], int):
                unchanged[old] = new_position[pid]
    entries = [rows[pid] for pid in order]
    written = [(new_position[pid], row) for pid, row in rows.items() if not isinstance(row, int)]
    added = {new_position[pid]: tokenize(lexical_doc(rows[pid][0])) for pid in fresh}  # type: ignore[index]
    papers = MergedRows(base, entries)
    return Catalog(
        stamp,
        base.embedder,
        base.chunking,
        stored_chunks,
        papers,
        TextsView(papers),
        base.lexical.updated(kept, added, len(order)),
        _remapped(base.index, unchanged, len(order), written),
    )


def _remapped(
    index: PaperIndex,
    unchanged: np.ndarray,
    n: int,
    written: list[tuple[int, tuple[Paper, list[str]]]],
) -> PaperIndex:
    """The index of an updated catalog: unchanged rows moved (`unchanged[old]` = new row or
    -1), the written papers' entries added at their new rows; same as building it anew."""
    moved = unchanged >= 0
    width = max([index.ids.dtype.itemsize] + [len(p.id.encode()) for _, (p, _) in written])
    ids = np.zeros(n, dtype=f"S{width}")
    years = np.zeros(n, dtype=np.int16)
    n_chunks = np.zeros(n, dtype=np.int32)
    ids[unchanged[moved]] = index.ids[moved]
    years[unchanged[moved]] = index.years[moved]
    n_chunks[unchanged[moved]] = index.n_chunks[moved]
    builder = _IndexBuilder(
        _Postings.moved(
            index.author_keys, index.author_names, index.author_ptr, index.author_idx, unchanged
        ),
        _Postings.moved(
            index.sources, index.sources, index.source_ptr, index.source_idx, unchanged
        ),
    )
    for row, (paper, texts) in written:
        ids[row], years[row], n_chunks[row] = paper.id.encode(), paper.year or 0, len(texts)
        builder.put(row, paper)
    return builder.finish(ids, years, n_chunks)


def load(
    settings: Settings,
    collection: Collection,
    lexical: bool = True,
    progress: ReadProgress | None = None,
) -> Catalog:
    """The collection's catalog: the saved one when current, else written from Chroma
    (`progress` follows that reading)."""
    from rag.index.store import generation

    stamp = generation(collection)
    found = read(path_for(settings), stamp, lexical) if stamp else None
    if found is None:
        found = _read_back(settings, collection, stamp, lexical, progress)
    return found


def _read_back(
    settings: Settings,
    collection: Collection,
    stamp: str | None,
    lexical: bool,
    progress: ReadProgress | None,
) -> Catalog:
    """Write the catalog from Chroma, make it the saved one if it is still current, open it.

    A data dir that cannot be written gets it in a temporary folder, removed once opened
    (its files stay mapped).
    """
    path = path_for(settings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        writable = os.access(path.parent, os.W_OK)
    except OSError:
        writable = False
    if not writable:
        with tempfile.TemporaryDirectory(prefix="paperchat-catalog-") as tmp:
            written = from_collection(collection, stamp, Path(tmp) / path.name, progress)
            found = read(written, None, lexical)
    else:
        pointer = from_collection(collection, stamp, path, progress)
        try:
            found = read(pointer, None, lexical)
            _publish_if_current(settings, stamp, pointer)
        finally:
            discard(pointer)
    assert found is not None, "a catalog just written reads back"
    return found


def _publish_if_current(settings: Settings, stamp: str | None, pointer: Path) -> None:
    """Make a catalog read back from Chroma the saved one, if it is still current.

    Only for a final stamp, only while no ingest runs on this data dir (the lock is tried,
    not waited for), and only if the collection's stamp has not changed since it was read.
    """
    from rag.index.lock import ingest_lock
    from rag.index.store import PENDING, StoreError, generation, open_collection

    if not stamp or stamp.startswith(PENDING):
        return
    try:
        with ingest_lock(settings):
            if generation(open_collection(settings)) == stamp:
                publish(pointer, path_for(settings))
    except (StoreError, OSError):
        pass


def save(built: Catalog, path: Path) -> None:
    """Write a catalog and make it the current one at `path`."""
    publish(write(built, path), path)


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


def write(catalog: Catalog, path: Path) -> Path:
    """Write the catalog into a new folder beside `path`; return a pointer file naming it.

    The caller publishes it with `publish` (or drops it with `discard`), so readers see the
    old catalog or the new one, never a part of either.
    """
    lexical, index = catalog.lexical, catalog.index
    assert lexical is not None
    if isinstance(catalog.papers, MergedRows):
        rows = catalog.papers.encoded()
    else:
        rows = ((p.id, _encode(p, t)) for p, t in zip(catalog.papers, catalog.texts, strict=True))
    header = _header(catalog.stamp, catalog.embedder, catalog.chunking, catalog.stored_chunks)
    return _write(path, header, rows, lambda: (lexical, index))


def write_rows(
    rows: Iterable[tuple[Paper, list[str]]],
    path: Path,
    stamp: str | None,
    embedder: str,
    chunking: str,
    stored_chunks: int,
) -> Path:
    """Write a catalog from papers sorted by id, streamed (tokenized here); see `write`."""
    from rag.index.lexical import TermCounter

    builder, counter = _IndexBuilder(), TermCounter()

    def encoded() -> Iterator[tuple[str, bytes]]:
        for paper, texts in rows:
            builder.add(paper, len(texts))
            counter.add(lexical_doc(paper))
            yield paper.id, _encode(paper, texts)

    header = _header(stamp, embedder, chunking, stored_chunks)
    return _write(path, header, encoded(), lambda: (counter.index(), builder.build()))


def _encode(paper: Paper, texts: list[str]) -> bytes:
    return json.dumps(_paper_row(paper, list(texts)), ensure_ascii=False).encode()


def _header(stamp: str | None, embedder: str, chunking: str, stored_chunks: int) -> dict[str, Any]:
    from rag.index.lexical import TOKENIZER

    return {
        "format": FORMAT,
        "tokenizer": TOKENIZER,
        "lexical": lexical_version(),
        "stamp": stamp,
        "embedder": embedder,
        "chunking": chunking,
        "stored_chunks": stored_chunks,
    }


def _write(
    path: Path,
    header: dict[str, Any],
    rows: Iterable[tuple[str, bytes]],
    finish: Callable[[], tuple[LexicalIndex, PaperIndex]],
) -> Path:
    """Write (paper id, stored row) pairs in id order, then what `finish` gives once they are."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean(path)
    folder = path.with_name(f"{path.stem}.{uuid.uuid4().hex[:12]}")
    folder.mkdir()
    (folder / ".writing").touch()
    try:
        offsets = [0]
        last = ""
        with (folder / "rows.bin").open("wb") as blob:
            for pid, data in rows:
                if pid <= last:
                    raise ValueError("catalog rows must be sorted by paper id, without repeats")
                last = pid
                blob.write(data)
                offsets.append(offsets[-1] + len(data))
        lexical, index = finish()
        np.save(folder / "rows.npy", np.array(offsets, dtype=np.int64))
        _save_index(folder, index)
        _dump(folder / "vocab.json", list(lexical.vocab))
        for name in MATRIX:
            np.save(folder / f"{name}.npy", _array(lexical, name))
        _dump(folder / HEADER, {**header, "papers": len(offsets) - 1, "n_docs": lexical.n_docs})
        for f in folder.iterdir():
            with f.open("rb") as handle:
                os.fsync(handle.fileno())
        (folder / ".writing").unlink()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    pointer = path.with_name(f".tmp-{folder.name}.json")
    pointer.write_text(json.dumps({"folder": folder.name}))
    return pointer


def _save_index(folder: Path, index: PaperIndex) -> None:
    np.save(folder / "ids.npy", index.ids)
    np.save(folder / "years.npy", index.years)
    np.save(folder / "chunks.npy", index.n_chunks)
    _dump(folder / "authors.json", [index.author_keys, index.author_names])
    np.save(folder / "author_ptr.npy", index.author_ptr)
    np.save(folder / "author_idx.npy", index.author_idx)
    _dump(folder / "sources.json", index.sources)
    np.save(folder / "source_ptr.npy", index.source_ptr)
    np.save(folder / "source_idx.npy", index.source_idx)


def _dump(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")


def publish(pointer: Path, path: Path) -> None:
    """Make the catalog a `write` returned current, then remove the one it replaces."""
    os.replace(pointer, path)
    _clean(path)


def discard(pointer: Path) -> None:
    """Drop a written catalog that was not published (no-op once it was)."""
    if not pointer.exists():
        return
    try:
        folder = json.loads(pointer.read_text())["folder"]
        shutil.rmtree(pointer.with_name(folder), ignore_errors=True)
    except (OSError, ValueError, KeyError):
        pass
    pointer.unlink(missing_ok=True)


def _clean(path: Path) -> None:
    """Remove this key's folders that the pointer does not name (superseded or crashed).

    A folder still being written (`.writing`), or written and awaiting `publish` or `discard`,
    is kept unless that began more than STALE_WRITE_S ago.
    Readers that mapped a removed folder's files keep reading them until they close.
    """
    current = current_folder(path)
    for folder in path.parent.glob(f"{path.stem}.*"):
        if not folder.is_dir() or folder == current:
            continue
        # being written, or written and not yet published (its pointer is `.tmp-<folder>.json`)
        markers = (folder / ".writing", path.with_name(f".tmp-{folder.name}.json"))
        try:
            if any(m.exists() and time.time() - m.stat().st_mtime < STALE_WRITE_S for m in markers):
                continue
        except OSError:
            continue
        shutil.rmtree(folder, ignore_errors=True)
    old = path.with_suffix(".zip")  # formats 1-2
    old.unlink(missing_ok=True)


def current_folder(path: Path) -> Path | None:
    """The folder the pointer file at `path` names, if it names one."""
    try:
        return path.with_name(json.loads(path.read_text())["folder"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _read_header(folder: Path) -> dict[str, Any] | None:
    try:
        header: dict[str, Any] = json.loads((folder / HEADER).read_text())
    except (OSError, ValueError):
        return None
    return header if header.get("format") == FORMAT else None


def _map(path: Path) -> np.ndarray:
    return np.load(path, mmap_mode="r", allow_pickle=False)  # type: ignore[no-any-return]


def read(path: Path, stamp: str | None = None, lexical: bool = True) -> Catalog | None:
    """Open a catalog; None when it is missing, unreadable, or (given `stamp`) stale."""
    folder = current_folder(path)
    header = _read_header(folder) if folder else None
    if folder is None or header is None or (stamp is not None and header["stamp"] != stamp):
        return None
    try:
        offsets = np.load(folder / "rows.npy", allow_pickle=False)
        with (folder / "rows.bin").open("rb") as handle:
            blob: bytes | mmap.mmap = (
                mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if offsets[-1] else b""
            )
        table = PaperTable(blob, offsets)
        keys, names = json.loads((folder / "authors.json").read_text(encoding="utf-8"))
        index = PaperIndex(
            _map(folder / "ids.npy"),
            _map(folder / "years.npy"),
            np.load(folder / "chunks.npy"),
            keys,
            names,
            _map(folder / "author_ptr.npy"),
            _map(folder / "author_idx.npy"),
            json.loads((folder / "sources.json").read_text(encoding="utf-8")),
            _map(folder / "source_ptr.npy"),
            _map(folder / "source_idx.npy"),
        )
        found = None
        if (
            lexical
            and header.get("tokenizer") == _tokenizer()
            and (header.get("lexical") == lexical_version())
        ):
            found = _read_lexical(folder)
        if lexical and found is None:  # saved by another version: re-index, Chroma not needed
            from rag.index.lexical import LexicalIndex

            found = LexicalIndex.build(lexical_doc(p) for p in table)
        return Catalog(
            header["stamp"],
            header["embedder"],
            header["chunking"],
            header["stored_chunks"],
            table,
            TextsView(table),
            found,
            index,
        )
    except (OSError, KeyError, ValueError, TypeError):
        return None


def _tokenizer() -> str:
    from rag.index.lexical import TOKENIZER

    return TOKENIZER


def read_stamp(path: Path) -> str | None:
    """The generation stamp of the catalog at `path`, or None when there is none."""
    folder = current_folder(path)
    header = _read_header(folder) if folder else None
    stamp = header.get("stamp") if header else None
    return str(stamp) if stamp else None


def _array(lexical: LexicalIndex, name: str) -> Any:
    value = getattr(lexical, "data" if name == "scores" else name)
    assert value is not None, "a LexicalIndex saved by the catalog keeps its counts"
    return value


def _read_lexical(folder: Path) -> LexicalIndex:
    from rag.index.lexical import LexicalIndex

    arrays = {name: _map(folder / f"{name}.npy") for name in MATRIX}
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    return LexicalIndex(
        vocab,
        arrays["scores"],
        arrays["indices"],
        arrays["indptr"],
        len(arrays["doc_len"]),
        arrays["counts"],
        arrays["doc_len"],
    )


def lexical_version() -> str:
    """What the BM25 matrix depends on besides the papers: fields, tokenizer, parameters."""
    from rag.index.lexical import K1, B

    return f"{LEXICAL_DOC}/k1={K1}/b={B}"


@dataclass(frozen=True)
class Contents:
    """What an index holds, as `papers` and `stats` show it."""

    papers: Sequence[Paper]
    stored_chunks: int
    embedder: str
    chunking: str


def contents(settings: Settings) -> Contents:
    """Read the index's papers from its catalog when that is current, else from Chroma.

    For the embedded store a present catalog is current (ingest removes it before writing),
    so chromadb is not even imported; a Chroma server may have been written by another
    machine, so there the catalog's stamp is checked against the collection's first.
    """
    from rag.index.store import check_identity

    path = path_for(settings)
    if not settings.chroma_host and (settings.data_dir / "chroma").is_dir():
        found = read(path, lexical=False)
        if found is not None:
            check_identity(settings, found.embedder, found.chunking)
            return Contents(found.papers, found.stored_chunks, found.embedder, found.chunking)
    from rag.index.store import open_collection

    found = load(settings, open_collection(settings), lexical=False)
    return Contents(found.papers, found.stored_chunks, found.embedder, found.chunking)
