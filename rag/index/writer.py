"""Ingest: load files, chunk, embed only what changed, and write to Chroma and the catalog.

This module is the only writer. The catalog (`rag.index.catalog`) is kept consistent with the
collection by a generation stamp stored in both (the bracket in `rag.index.generations`): an
ingest that changes anything first removes the catalog and stamps the collection
"pending-..." (its first write), and after its last write stamps a new generation and saves a
catalog carrying it. A present catalog is
therefore never stale for paperchat's own writes, and an interrupted ingest leaves none. A
reader that finds no current catalog reads Chroma and saves one (`rag.index.catalog.load`) only
when the stamp is final, did not change while it read, and no ingest holds the lock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag import identifiers
from rag.config import Settings
from rag.corpus.chunking import chunk_paper
from rag.corpus.loaders import FileReport, FileStream, merge, source_name, walk
from rag.embed import Embedder
from rag.index import catalog
from rag.index.generations import Delta, current_catalog, publish_catalog, writing
from rag.index.lock import ingest_lock
from rag.index.store import (
    StoredChunk,
    StoreError,
    add_chunks,
    delete_chunks,
    drop_collection,
    generation,
    iter_chunks,
    max_batch,
    open_collection,
    paper_from_metadata,
    paper_metadata,
    relabel_chunks,
    write_errors,
)
from rag.records import Chunk, Paper

if TYPE_CHECKING:
    from rag.index.store import Collection

BATCH_PAPERS = 256  # papers read, planned, embedded and written together


@dataclass(frozen=True)
class IngestProgress:
    """How far an ingest is: bytes of the input files read (papers are counted as they come)."""

    bytes_read: int
    bytes_total: int
    papers: int  # papers read so far (unknown in advance: files stream)
    chunks_embedded: int
    # After the last write, when the catalog is read back from Chroma: (chunks read, stored)
    catalog_chunks: tuple[int, int] | None = None


Progress = Callable[[IngestProgress], None]


@dataclass(frozen=True)
class IngestReport:
    """What an ingest did."""

    files: tuple[FileReport, ...]
    papers_total: int
    added: int
    updated: int
    unchanged: int
    removed: int
    chunks_embedded: int

    @property
    def skipped(self) -> int:
        """Count skipped records and unreadable files."""
        return sum(len(f.skipped) + (f.error is not None) for f in self.files)


def content_hash(paper: Paper) -> str:
    """Hash what a paper's chunks are built from (sources and identifiers excluded)."""
    payload = json.dumps(
        [
            paper.title,
            paper.abstract,
            paper.authors,
            paper.year,
            paper.date,
            paper.url,
            paper.n_authors,
            paper.upvotes,
            paper.title_derived,
        ]
    )
    return hashlib.sha1(payload.encode("utf-8")).hexdigest()


def _metadata(paper: Paper, digest: str, n_chunks: int) -> dict[str, Any]:
    """Every chunk's metadata: the paper's fields (`rag.index.store`) plus its identifiers."""
    return {**paper_metadata(paper, digest, n_chunks), **identifiers.to_metadata(paper)}


def _file_of(source: str) -> str:
    return source.rsplit(":", 1)[0]


@dataclass
class _Existing:
    """A paper already in the store, as its chunks' metadata (and texts, if read) describe it."""

    paper: Paper
    chunk_ids: list[str]
    n_chunks: int
    content_hash: str
    texts: dict[int, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Tell whether every chunk made it in (an ingest killed mid-write leaves fewer)."""
        return len(self.chunk_ids) == self.n_chunks

    def whole(self) -> Paper:
        """The paper with its abstract joined from its chunk texts (read with them)."""
        return replace(self.paper, abstract=" ".join(self.texts[i] for i in sorted(self.texts)))


def _group(chunks: Iterable[StoredChunk], settings: Settings) -> dict[str, _Existing]:
    """Group stored chunks by paper.

    Only a chunk whose metadata paperchat cannot read is called foreign; an error from the
    store while reading (Chroma's own) propagates as what it is.
    """
    found: dict[str, _Existing] = {}
    for chunk in chunks:
        try:
            pid = str(chunk.meta["paper_id"])
            if pid not in found:
                found[pid] = _Existing(
                    paper=identifiers.from_metadata(
                        paper_from_metadata(chunk.meta, ""), chunk.meta
                    ),
                    chunk_ids=[],
                    n_chunks=int(chunk.meta["n_chunks"]),
                    content_hash=str(chunk.meta.get("content_hash")),
                )
            index = int(chunk.meta.get("chunk_index", 0))
        except (KeyError, TypeError, ValueError) as exc:  # chunks without paperchat's metadata
            raise _foreign(settings, chunk.id, exc) from None
        found[pid].chunk_ids.append(chunk.id)
        found[pid].texts[index] = chunk.text
    return found


def _foreign(settings: Settings, chunk_id: str, exc: Exception) -> StoreError:
    return StoreError(
        f"the collection {settings.collection!r} in {settings.store_location()} holds "
        f"chunks paperchat did not write (near chunk {chunk_id!r}: {type(exc).__name__} "
        f"{exc}); rebuild it with `paperchat ingest --rebuild`"
    )


def _sources(chunk: StoredChunk, settings: Settings) -> tuple[str, tuple[str, ...]]:
    """A stored chunk's paper id and its paper's sources."""
    try:
        int(chunk.meta["n_chunks"])
        return str(chunk.meta["paper_id"]), tuple(json.loads(str(chunk.meta["sources"])))
    except (KeyError, TypeError, ValueError) as exc:
        raise _foreign(settings, chunk.id, exc) from None


def _stored_papers(
    collection: Collection, settings: Settings, ids: list[str]
) -> dict[str, _Existing]:
    """The stored chunks (with texts) of the papers `ids`, grouped by paper."""
    if not ids:  # Chroma rejects an empty `$in` list (a file, or a folder, with no paper)
        return {}
    return _group(iter_chunks(collection, where={"paper_id": {"$in": ids}}), settings)


def ingest(
    paths: Iterable[Path],
    settings: Settings,
    embedder: Embedder,
    rebuild: bool = False,
    progress: Progress | None = None,
) -> IngestReport:
    """Bring the index in line with the files under `paths`, embedding only what changed.

    Files stream: papers are read, planned, embedded and written BATCH_PAPERS at a time, so
    memory does not grow with the input (beyond a set of the paper ids seen). A run killed at
    any point leaves complete papers only; the next run skips what is already written.
    """
    with ingest_lock(settings):
        files = list(walk(paths))
        fresh = _absent(settings)
        if rebuild:
            catalog.path_for(settings).unlink(missing_ok=True)
            drop_collection(settings)
        collection = open_collection(settings, create=True)
        with write_errors(settings):
            report = _Run(collection, settings, embedder, progress, files).run()
        if fresh is not None and not report.papers_total:
            _unmake(settings, fresh)  # no paper read: leave no empty index behind
        return report


def _absent(settings: Settings) -> tuple[bool, bool] | None:
    """For an embedded index that does not exist yet: (chroma folder, catalog folder) absent."""
    if settings.chroma_host or (settings.data_dir / "chroma").exists():
        return None
    return True, not (settings.data_dir / "catalog").exists()


def _unmake(settings: Settings, fresh: tuple[bool, bool]) -> None:
    """Remove the index folders an ingest created and filled with nothing."""
    import shutil

    from rag.index.store import forget_client

    folder = settings.data_dir / "chroma"
    forget_client(str(folder))
    shutil.rmtree(folder, ignore_errors=True)
    if fresh[1]:
        shutil.rmtree(settings.data_dir / "catalog", ignore_errors=True)
    else:
        catalog.path_for(settings).unlink(missing_ok=True)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class _Run:
    """One ingest: files read batch by batch, each batch planned against what is stored."""

    def __init__(
        self,
        collection: Collection,
        settings: Settings,
        embedder: Embedder,
        progress: Progress | None,
        files: list[tuple[Path, str | None]],
    ) -> None:
        self.collection, self.settings, self.embedder = collection, settings, embedder
        self.progress = progress
        self.files = files
        read = [p for p, refuse in files if refuse is None]  # the others are only reported
        self.names = {source_name(p) for p in read}  # every paper's source is one of these
        self.total_bytes = sum(_size(p) for p in read)
        self.read_bytes = 0  # of the files before the current one
        self.batch: dict[str, Paper] = {}
        self.batch_bytes = (0, 0)  # input read before and after the batch being written
        self.seen: set[str] = set()  # ids of the papers of the batches written so far
        self.added = self.updated = self.unchanged = self.chunks = self.papers = 0
        self.delta: Delta | None = None
        self.stack = ExitStack()

    def run(self) -> IngestReport:
        """Read every file, write what changed, drop what no file holds any more."""
        reports: list[FileReport] = []
        held = False  # anything stored before this run (if not, nothing can have been removed)
        for chunk in iter_chunks(self.collection, include_text=False, limit=1):
            _sources(chunk, self.settings)  # another program's collection: refuse before writing
            held = True
        with self.stack:  # the writing bracket, entered at the first write (see `_begin`)
            for path, refuse in self.files:
                stream = FileStream(path, refuse)
                merged = 0
                for draft in stream:
                    paper = draft.to_paper(draft.key)
                    self.papers += 1
                    if paper.id in self.batch:
                        merged += 1
                        self.batch[paper.id] = merge(self.batch[paper.id], paper)
                        continue
                    merged += paper.id in self.seen
                    self.batch[paper.id] = paper
                    if len(self.batch) >= BATCH_PAPERS:
                        self._flush(self.read_bytes + stream.position)
                reports.append(replace(stream.report, merged=merged))
                self.read_bytes += stream.size
                if stream.report.error is not None and path.exists():
                    self.names.discard(source_name(path))  # unreadable now: what it gave stays
            self._flush(self.read_bytes)
            removed, kept = self._drop_unseen() if held else (0, 0)
        stamp = generation(self.collection)
        if not stamp or catalog.read_stamp(catalog.path_for(self.settings)) != stamp:
            publish_catalog(self.settings, self.collection, None, self._reading_back)  # pre-catalog
        return IngestReport(
            files=tuple(reports),
            papers_total=len(self.seen) + kept,
            added=self.added,
            updated=self.updated,
            unchanged=self.unchanged,
            removed=removed,
            chunks_embedded=self.chunks,
        )

    def _report(self, share: float = 1.0) -> None:
        """Tell progress: the batch's input counts as read in step with its chunks written."""
        if self.progress is not None:
            before, after = self.batch_bytes
            done = before + int((after - before) * share)
            self.progress(IngestProgress(done, self.total_bytes, self.papers, self.chunks))

    def _flush(self, position: int) -> None:
        """Plan the batch against the stored papers, then delete, relabel and embed."""
        self.batch_bytes = (self.batch_bytes[1], position)
        papers, self.batch = list(self.batch.values()), {}
        stored = _stored_papers(self.collection, self.settings, [p.id for p in papers])
        to_embed: list[Paper] = []
        to_relabel: list[tuple[Paper, _Existing]] = []
        to_delete: list[str] = []
        for paper in papers:
            again = paper.id in self.seen  # read from an earlier file of this run: merge
            old = stored.get(paper.id)
            if old is None:
                to_embed.append(paper)
                self.added += not again
                continue
            if again:
                final = merge(old.whole(), paper)
            else:
                others = replace(old.paper, sources=self._others(old.paper.sources))
                final = merge(paper, others) if others.sources else paper
            if not old.complete or content_hash(final) != old.content_hash:
                to_delete.extend(old.chunk_ids)
                to_embed.append(final)
                self.updated += not again
                continue
            self.unchanged += not again
            if final.sources != old.paper.sources or identifiers.key(final) != identifiers.key(
                old.paper
            ):
                to_relabel.append((final, old))
        self.seen.update(p.id for p in papers)
        self._write(to_embed, to_relabel, to_delete)
        self._report()

    def _others(self, sources: tuple[str, ...]) -> tuple[str, ...]:
        """The sources from files outside this run."""
        return tuple(s for s in sources if _file_of(s) not in self.names)

    def _drop_unseen(self) -> tuple[int, int]:
        """Take this run's files out of the sources of the stored papers they no longer hold.

        A paper left without sources is deleted. Returns (papers deleted, papers kept that
        this run did not read). Reads the metadata of every stored chunk, a page at a time.
        """
        gone: list[StoredChunk] = []
        kept: set[str] = set()
        for chunk in iter_chunks(self.collection, include_text=False):
            pid, sources = _sources(chunk, self.settings)
            if pid in self.seen:
                continue
            if self._others(sources) == sources:
                kept.add(pid)
            else:
                gone.append(chunk)
        to_delete: list[str] = []
        to_relabel: list[tuple[Paper, _Existing]] = []
        for old in _group(gone, self.settings).values():
            others = self._others(old.paper.sources)
            if others:
                to_relabel.append((replace(old.paper, sources=others), old))
                kept.add(old.paper.id)
            else:
                to_delete.extend(old.chunk_ids)
        self._write([], to_relabel, to_delete)
        removed = {c.rsplit(":", 1)[0] for c in to_delete}
        if self.delta is not None:
            self.delta.removed |= removed
        return len(removed), len(kept)

    def _begin(self) -> None:
        """Enter the writing bracket at the first write (a run that changes nothing never does)."""
        if self.delta is None:
            self.delta = Delta(current_catalog(self.settings, self.collection))
            self.stack.enter_context(
                writing(self.settings, self.collection, self.delta, self._reading_back)
            )

    def _reading_back(self, done: int, total: int) -> None:
        """Tell progress how far the catalog's read-back from Chroma is."""
        if self.progress is not None:
            self.progress(
                IngestProgress(
                    self.total_bytes, self.total_bytes, self.papers, self.chunks, (done, total)
                )
            )

    def _write(
        self,
        to_embed: list[Paper],
        to_relabel: list[tuple[Paper, _Existing]],
        to_delete: list[str],
    ) -> None:
        if not (to_embed or to_relabel or to_delete):
            return
        self._begin()
        assert self.delta is not None
        delete_chunks(self.collection, to_delete)
        for paper, old in to_relabel:  # n_chunks kept: a half-written paper stays invisible
            meta = _metadata(paper, old.content_hash, old.n_chunks)
            relabel_chunks(
                self.collection,
                old.chunk_ids,
                [{**meta, "chunk_index": int(c.rsplit(":", 1)[1])} for c in old.chunk_ids],
            )
        self.delta.add([(_stored(p, old.content_hash, None), None) for p, old in to_relabel])
        self.chunks += _embed_and_add(
            self.collection, to_embed, self.settings, self.embedder, self._report, self.delta
        )


def _embed_and_add(
    collection: Collection,
    papers: Sequence[Paper],
    settings: Settings,
    embedder: Embedder,
    progress: Callable[[float], None] | None = None,
    delta: Delta | None = None,
) -> int:
    """Embed papers' chunks in groups and write each paper's chunks together.

    `progress` gets the share of the chunks written so far after each write.
    """
    plans: list[tuple[Paper, list[Chunk]]] = [
        (p, chunk_paper(p, settings.chunk_tokens, embedder.count_tokens)) for p in papers
    ]
    total = sum(len(chunks) for _, chunks in plans)
    limit = min(settings.embed_batch_size * 4, max_batch(collection))
    done = size = 0
    batch: list[tuple[Paper, list[Chunk]]] = []
    for i, item in enumerate(plans):
        batch.append(item)
        size += len(item[1])
        if i + 1 < len(plans) and size + len(plans[i + 1][1]) <= limit:
            continue  # the next paper still fits: a write holds whole papers, within the limit
        chunks = [c for _, cs in batch for c in cs]
        metas = [_metadata(p, content_hash(p), len(cs)) for p, cs in batch for _ in cs]
        vectors = embedder.embed_documents([c.dense_text for c in chunks])
        add_chunks(collection, chunks, vectors, metas)
        if delta is not None:
            delta.add(
                [
                    (_stored(p, content_hash(p), [c.text for c in cs]), [c.text for c in cs])
                    for p, cs in batch
                ]
            )
        done += len(chunks)
        if progress:
            progress(done / total)
        batch, size = [], 0
    return total


def _stored(paper: Paper, digest: str, texts: list[str] | None) -> Paper:
    """The paper as a reader rebuilds it from its chunks' metadata (and texts)."""
    meta = _metadata(paper, digest, len(texts) if texts is not None else 0)
    abstract = " ".join(texts) if texts is not None else ""
    return identifiers.from_metadata(paper_from_metadata(meta, abstract), meta)
