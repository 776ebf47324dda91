"""Ingest: load files, chunk, embed only what changed, and write to Chroma and the catalog.

This module is the only writer. The catalog (`rag.catalog`) is kept consistent with the
collection by a generation stamp stored in both: an ingest that changes anything first
removes the catalog and stamps the collection "pending-..." (its first write), and after its
last write stamps a new generation and saves a catalog carrying it. A present catalog is
therefore never stale for paperchat's own writes, and an interrupted ingest leaves none. A
reader that finds no current catalog reads Chroma and saves one (`rag.catalog.load`) only
when the stamp is final, did not change while it read, and no ingest holds the lock.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag import catalog, identifiers
from rag.chunking import chunk_paper
from rag.config import Settings
from rag.embed import Embedder
from rag.errors import exc_detail
from rag.loaders import FileReport, LoadResult, load_paths, merge, source_name
from rag.lock import ingest_lock
from rag.records import Chunk, Paper
from rag.store import (
    PENDING,
    StoreError,
    add_chunks,
    drop_collection,
    generation,
    iter_chunks,
    open_collection,
    paper_from_metadata,
    paper_metadata,
    set_generation,
)

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

Progress = Callable[[int, int], None]


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
    """Every chunk's metadata: the paper's fields (`rag.store`) plus its identifiers."""
    return {**paper_metadata(paper, digest, n_chunks), **identifiers.to_metadata(paper)}


def _file_of(source: str) -> str:
    return source.rsplit(":", 1)[0]


@dataclass
class _Existing:
    """A paper already in the store, as its chunks' metadata describe it."""

    paper: Paper
    chunk_ids: list[str]
    n_chunks: int
    content_hash: str

    @property
    def complete(self) -> bool:
        """Tell whether every chunk made it in (an ingest killed mid-write leaves fewer)."""
        return len(self.chunk_ids) == self.n_chunks


def _existing_papers(collection: Collection, settings: Settings) -> dict[str, _Existing]:
    found: dict[str, _Existing] = {}
    chunk_id = "?"
    try:
        for chunk in iter_chunks(collection, include_text=False):
            chunk_id = chunk.id
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
            found[pid].chunk_ids.append(chunk.id)
    except (KeyError, TypeError, ValueError) as exc:  # chunks without paperchat's metadata
        raise StoreError(
            f"the collection {settings.collection!r} in {settings.store_location()} holds "
            f"chunks paperchat did not write (near chunk {chunk_id!r}: {type(exc).__name__} "
            f"{exc}); rebuild it with `paperchat ingest --rebuild`"
        ) from None
    return found


def _plan(
    loaded: Sequence[Paper], existing: dict[str, _Existing], files: set[str]
) -> tuple[list[Paper], list[Paper], list[str]]:
    """Decide which papers to (re)embed, which only need new metadata, which chunks to delete."""
    to_embed: list[Paper] = []
    to_relabel: list[Paper] = []
    to_delete: list[str] = []
    loaded_ids = {p.id for p in loaded}
    for pid, old in existing.items():
        if pid in loaded_ids:
            continue
        kept = tuple(s for s in old.paper.sources if _file_of(s) not in files)
        if not kept:
            to_delete.extend(old.chunk_ids)
        elif kept != old.paper.sources:
            to_relabel.append(replace(old.paper, sources=kept))
    for paper in loaded:
        if paper.id not in existing:
            to_embed.append(paper)
            continue
        old = existing[paper.id]
        others = replace(
            old.paper, sources=tuple(s for s in old.paper.sources if _file_of(s) not in files)
        )
        final = merge(paper, others) if others.sources else paper
        if not old.complete or content_hash(final) != old.content_hash:
            to_delete.extend(old.chunk_ids)
            to_embed.append(final)
        elif final.sources != old.paper.sources or identifiers.key(final) != identifiers.key(
            old.paper
        ):
            to_relabel.append(final)
    return to_embed, to_relabel, to_delete


def ingest(
    paths: Iterable[Path],
    settings: Settings,
    embedder: Embedder,
    rebuild: bool = False,
    progress: Progress | None = None,
) -> IngestReport:
    """Bring the index in line with the files under `paths`, embedding only what changed."""
    with ingest_lock(settings):
        return _ingest(list(paths), settings, embedder, rebuild, progress)


def _ingest(
    paths: list[Path],
    settings: Settings,
    embedder: Embedder,
    rebuild: bool,
    progress: Progress | None,
) -> IngestReport:
    loaded = load_paths(paths)
    if rebuild:
        catalog.path_for(settings).unlink(missing_ok=True)
        drop_collection(settings)
    collection = open_collection(settings, create=True)
    with _store_errors(settings):
        return _apply(loaded, collection, settings, embedder, progress)


@contextmanager
def _store_errors(settings: Settings) -> Iterator[None]:
    """Turn Chroma failures mid-ingest into one StoreError line (what was written stays valid)."""
    from chromadb.errors import ChromaError

    try:
        yield
    except (ChromaError, OSError) as exc:
        raise StoreError(
            f"writing to {settings.store_location()} failed ({exc_detail(exc)}); papers written "
            "so far are complete, run `paperchat ingest` again to finish"
        ) from None


def _apply(
    loaded: LoadResult,
    collection: Collection,
    settings: Settings,
    embedder: Embedder,
    progress: Progress | None,
) -> IngestReport:
    """Delete, relabel and embed so the collection matches the loaded papers."""
    existing = _existing_papers(collection, settings)
    files = {source_name(Path(f.path)) for f in loaded.files}  # every paper's source is one
    to_embed, to_relabel, to_delete = _plan(loaded.papers, existing, files)
    changes = bool(to_embed or to_relabel or to_delete)
    relabelled = {p.id for p in to_relabel}
    delta = _Delta(_current_catalog(settings, collection) if changes else None)
    with writing(settings, collection, delta) if changes else nullcontext():
        delta.removed = {c.rsplit(":", 1)[0] for c in to_delete} - {p.id for p in to_embed}
        delta.changed += [(_stored(p, existing[p.id].content_hash, None), None) for p in to_relabel]
        if to_delete:
            collection.delete(ids=to_delete)
        for paper in to_relabel:
            old = existing[paper.id]
            meta = _metadata(paper, old.content_hash, len(old.chunk_ids))
            collection.update(
                ids=old.chunk_ids,
                metadatas=[
                    {**meta, "chunk_index": int(c.rsplit(":", 1)[1])} for c in old.chunk_ids
                ],
            )
        embedded = _embed_and_add(collection, to_embed, settings, embedder, progress, delta)
    stamp = generation(collection)
    if not stamp or catalog.read_stamp(catalog.path_for(settings)) != stamp:
        _publish(settings, collection)  # e.g. an index from before catalogs, or a lost file
    updated = sum(1 for p in to_embed if p.id in existing)
    loaded_ids = {p.id for p in loaded.papers}
    removed = sum(1 for pid in existing if pid not in loaded_ids and pid not in relabelled)
    return IngestReport(
        files=loaded.files,
        papers_total=len(existing) + len(to_embed) - updated - removed,
        added=len(to_embed) - updated,
        updated=updated,
        unchanged=len(loaded.papers) - len(to_embed),
        removed=removed,
        chunks_embedded=embedded,
    )


def _embed_and_add(
    collection: Collection,
    papers: Sequence[Paper],
    settings: Settings,
    embedder: Embedder,
    progress: Progress | None,
    delta: _Delta | None = None,
) -> int:
    """Embed papers' chunks in batches and write each paper's chunks together."""
    plans: list[tuple[Paper, list[Chunk]]] = [
        (p, chunk_paper(p, settings.chunk_tokens, embedder.count_tokens)) for p in papers
    ]
    total = sum(len(chunks) for _, chunks in plans)
    done = 0
    batch: list[tuple[Paper, list[Chunk]]] = []
    for item in plans:
        batch.append(item)
        if sum(len(c) for _, c in batch) >= settings.embed_batch_size * 4 or item is plans[-1]:
            chunks = [c for _, cs in batch for c in cs]
            metas = [_metadata(p, content_hash(p), len(cs)) for p, cs in batch for _ in cs]
            vectors = embedder.embed_documents([c.dense_text for c in chunks])
            add_chunks(collection, chunks, vectors, metas)
            if delta is not None:
                delta.changed += [
                    (_stored(p, content_hash(p), [c.text for c in cs]), [c.text for c in cs])
                    for p, cs in batch
                ]
            done += len(chunks)
            if progress:
                progress(done, total)
            batch = []
    return total


@dataclass
class _Delta:
    """What an ingest changed, for updating the catalog it started from (if it had one)."""

    base: catalog.Catalog | None
    removed: set[str] = field(default_factory=set)
    changed: list[tuple[Paper, list[str] | None]] = field(default_factory=list)


def _current_catalog(settings: Settings, collection: Collection) -> catalog.Catalog | None:
    """The saved catalog, if it describes the collection as it is now."""
    stamp = generation(collection)
    if not stamp or stamp.startswith(PENDING):
        return None
    return catalog.read(catalog.path_for(settings), stamp)


def _stored(paper: Paper, digest: str, texts: list[str] | None) -> Paper:
    """The paper as a reader rebuilds it from its chunks' metadata (and texts)."""
    meta = _metadata(paper, digest, len(texts) if texts is not None else 0)
    abstract = " ".join(texts) if texts is not None else ""
    return identifiers.from_metadata(paper_from_metadata(meta, abstract), meta)


@contextmanager
def writing(
    settings: Settings, collection: Collection, delta: _Delta | None = None
) -> Iterator[None]:
    """Bracket writes to the collection so that no stale catalog survives them.

    Before: remove the catalog, then stamp the collection "pending" (the first write).
    After the last write: stamp a new generation and save the catalog — updated from the
    one before when the writer recorded its `delta`, else read back from Chroma. An
    exception in between leaves no catalog, and readers fall back to Chroma.
    """
    catalog.path_for(settings).unlink(missing_ok=True)
    set_generation(collection, PENDING + uuid.uuid4().hex)
    yield
    _publish(settings, collection, delta)


def _publish(settings: Settings, collection: Collection, delta: _Delta | None = None) -> None:
    """Stamp a new generation and save the catalog of what the collection now holds."""
    stamp = uuid.uuid4().hex
    set_generation(collection, stamp)
    built = None
    if delta is not None and delta.base is not None:
        built = catalog.updated(delta.base, stamp, collection.count(), delta.removed, delta.changed)
    if built is None:
        built = catalog.from_collection(collection, stamp)
    catalog.save(built, catalog.path_for(settings))
