"""Building a catalog from what a Chroma collection holds, and opening the current one."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag import identifiers
from rag.config import Settings
from rag.index.catalog.files import read, write_rows
from rag.index.catalog.model import Catalog, ReadProgress
from rag.index.catalog.publish import discard, path_for, publish
from rag.records import Paper

if TYPE_CHECKING:
    from rag.index.store import Collection


def from_collection(
    collection: Collection, stamp: str | None, path: Path, progress: ReadProgress | None = None
) -> Path:
    """Write the catalog of every complete paper a collection holds; see `write`.

    Streamed: the chunks are spilled to a file beside the catalog and read back sorted by
    paper (`rag.index.store.iter_papers`), so memory holds about 30 bytes a chunk and the BM25
    counts, not the collection's papers and texts.
    """
    from rag.index.store import built_with, count, iter_papers, paper_from_metadata

    identity = built_with(collection)
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
            identity.embedder,
            identity.chunking,
            count(collection),
        )
    finally:
        shutil.rmtree(spill, ignore_errors=True)


def rebuild(
    collection: Collection, stamp: str | None, path: Path, progress: ReadProgress | None = None
) -> None:
    """Write the catalog from Chroma and make it the current one at `path` (an ingest's
    fallback when it cannot update the one it started from)."""
    publish(from_collection(collection, stamp, path, progress), path)


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


@dataclass(frozen=True)
class Contents:
    """What an index holds, as `papers` and `stats` show it."""

    papers: Sequence[Paper]
    stored_chunks: int
    embedder: str
    chunking: str
    stamp: str | None = None  # the generation read (None: unknown)


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
            return Contents(
                found.papers, found.stored_chunks, found.embedder, found.chunking, found.stamp
            )
    from rag.index.store import open_collection

    found = load(settings, open_collection(settings), lexical=False)
    return Contents(found.papers, found.stored_chunks, found.embedder, found.chunking, found.stamp)
