"""The catalog: the papers, chunk texts and BM25 matrix of an index, saved beside it.

Reading every chunk back from Chroma and tokenizing every abstract made each process's cold
load grow with the collection (96 s at 100k papers). Ingest therefore saves what the retriever
and `papers`/`stats` need in one zip file under `data_dir/catalog/` (one per store location
and collection): a JSON header, the papers with their chunk texts, and the BM25 score matrix
as NumPy arrays. Reading the papers needs neither chromadb nor NumPy.

The header carries a generation stamp that ingest also writes into the collection metadata
(see `rag.index`); a catalog is only used while the two agree. A reader that finds none
current builds one from Chroma and saves it for the next process (`load`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.config import Settings
from rag.records import Paper

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

    from rag.lexical import LexicalIndex

FORMAT = 1
HEADER, PAPERS, VOCAB = "catalog.json", "papers.json", "vocab.json"
MATRIX = ("data", "indices", "indptr")  # the CSC arrays of LexicalIndex


@dataclass(frozen=True)
class Catalog:
    """Every complete paper (sorted by id) with its chunk texts, and their BM25 index."""

    stamp: str | None
    embedder: str
    chunking: str
    stored_chunks: int  # chunks in the collection, half-written papers included
    papers: list[Paper]
    texts: list[list[str]]  # each paper's chunk texts in chunk order
    lexical: LexicalIndex | None  # None when read without it (`papers`, `stats`)


def path_for(settings: Settings) -> Path:
    """Where the catalog of the configured store location and collection lives."""
    key = f"{settings.store_location()}\0{settings.collection}".encode()
    return settings.data_dir / "catalog" / f"{hashlib.sha1(key).hexdigest()[:16]}.zip"


def lexical_doc(paper: Paper) -> str:
    """The text BM25 indexes for a paper (title twice, authors, abstract)."""
    return f"{paper.title}. {paper.title}. {', '.join(paper.authors)}. {paper.abstract}"


def from_collection(collection: Collection, stamp: str | None) -> Catalog:
    """Read every chunk of a collection, group them into complete papers, index them for BM25."""
    from rag.lexical import LexicalIndex
    from rag.store import complete_papers

    meta = collection.metadata or {}
    found = complete_papers(collection)
    papers = [paper for paper, _ in found]
    texts = [chunk_texts for _, chunk_texts in found]
    lexical = LexicalIndex.build([lexical_doc(p) for p in papers])
    return Catalog(
        stamp=stamp,
        embedder=str(meta.get("embedder")),
        chunking=str(meta.get("chunking")),
        stored_chunks=collection.count(),
        papers=papers,
        texts=texts,
        lexical=lexical,
    )


def load(settings: Settings, collection: Collection) -> Catalog:
    """The collection's catalog: the saved one when current, else built from Chroma and saved."""
    from rag.store import generation

    stamp = generation(collection)
    found = read(path_for(settings), stamp) if stamp else None
    if found is not None:
        return found
    built = from_collection(collection, stamp)
    _save_if_current(settings, built)
    return built


def _save_if_current(settings: Settings, built: Catalog) -> None:
    """Save a catalog a reader built from Chroma, if it is still current (best effort).

    Only for a final stamp, only while no ingest runs on this data dir (the lock is tried,
    not waited for), and only if the collection's stamp has not changed since it was read.
    """
    from rag.lock import ingest_lock
    from rag.store import PENDING, StoreError, generation, open_collection

    if not built.stamp or built.stamp.startswith(PENDING):
        return
    path = path_for(settings)
    try:
        tmp = write(built, path)
    except OSError:
        return  # e.g. a read-only data dir: the next process reads Chroma again
    try:
        with ingest_lock(settings):
            if generation(open_collection(settings)) == built.stamp:
                os.replace(tmp, path)
    except (StoreError, OSError):
        pass
    finally:
        tmp.unlink(missing_ok=True)


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
        texts,
    ]


def _paper(row: list[Any]) -> Paper:
    pid, title, authors, year, date, url, derived, n_authors, upvotes, sources, texts = row
    return Paper(
        id=pid,
        title=title,
        abstract=" ".join(texts),
        authors=tuple(authors),
        year=year,
        date=date,
        url=url,
        title_derived=derived,
        n_authors=n_authors,
        upvotes=upvotes,
        sources=tuple(sources),
    )


def write(catalog: Catalog, path: Path) -> Path:
    """Write the catalog to a temporary file beside `path` and return that file.

    The caller publishes it with `os.replace`, so readers see the old file or the new one.
    """
    import numpy as np

    from rag.lexical import TOKENIZER

    assert catalog.lexical is not None
    lexical = catalog.lexical
    header = {
        "format": FORMAT,
        "tokenizer": TOKENIZER,
        "stamp": catalog.stamp,
        "embedder": catalog.embedder,
        "chunking": catalog.chunking,
        "stored_chunks": catalog.stored_chunks,
        "papers": len(catalog.papers),
        "n_docs": lexical.n_docs,
    }
    rows = [_paper_row(p, t) for p, t in zip(catalog.papers, catalog.texts, strict=True)]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".zip")
    try:
        with os.fdopen(fd, "wb") as handle:
            with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as zf:
                zf.writestr(HEADER, json.dumps(header))
                zf.writestr(PAPERS, json.dumps(rows, ensure_ascii=False))
                zf.writestr(VOCAB, json.dumps(list(lexical.vocab), ensure_ascii=False))
                for name in MATRIX:
                    with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, getattr(lexical, name))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the index beside it is not
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def read(path: Path, stamp: str | None = None, lexical: bool = True) -> Catalog | None:
    """Read a catalog; None when it is missing, unreadable, or (given `stamp`) stale."""
    try:
        with zipfile.ZipFile(path) as zf:
            header = json.loads(zf.read(HEADER))
            if header.get("format") != FORMAT or (stamp is not None and header["stamp"] != stamp):
                return None
            rows = json.loads(zf.read(PAPERS))
            index = _read_lexical(zf, header) if lexical else None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    if lexical and index is None:
        return None  # BM25 built by another tokenizer: rebuilt from Chroma
    return Catalog(
        stamp=header["stamp"],
        embedder=header["embedder"],
        chunking=header["chunking"],
        stored_chunks=header["stored_chunks"],
        papers=[_paper(r) for r in rows],
        texts=[r[-1] for r in rows],
        lexical=index,
    )


def read_stamp(path: Path) -> str | None:
    """The generation stamp of the catalog at `path`, or None when there is none."""
    try:
        with zipfile.ZipFile(path) as zf:
            stamp = json.loads(zf.read(HEADER)).get("stamp")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    return str(stamp) if stamp else None


def _read_lexical(zf: zipfile.ZipFile, header: dict[str, Any]) -> LexicalIndex | None:
    """The saved BM25 index; None when another tokenizer built it (its terms would not match)."""
    import numpy as np

    from rag.lexical import TOKENIZER, LexicalIndex

    if header.get("tokenizer") != TOKENIZER:
        return None
    arrays = {}
    for name in MATRIX:
        with zf.open(f"{name}.npy") as member:
            arrays[name] = np.lib.format.read_array(member, allow_pickle=False)
    vocab = json.loads(zf.read(VOCAB))
    n_docs = int(header["n_docs"])
    return LexicalIndex(vocab, arrays["data"], arrays["indices"], arrays["indptr"], n_docs)


@dataclass(frozen=True)
class Contents:
    """What an index holds, as `papers` and `stats` show it."""

    papers: list[Paper]
    stored_chunks: int
    embedder: str
    chunking: str


def contents(settings: Settings) -> Contents:
    """Read the index's papers from its catalog when that is current, else from Chroma.

    For the embedded store a present catalog is current (ingest removes it before writing),
    so chromadb is not even imported; a Chroma server may have been written by another
    machine, so there the catalog's stamp is checked against the collection's first.
    """
    from rag.store import check_identity

    path = path_for(settings)
    if not settings.chroma_host and (settings.data_dir / "chroma").is_dir():
        found = read(path, lexical=False)
        if found is not None:
            check_identity(settings, found.embedder, found.chunking)
            return _contents(found)
    from rag.store import generation, load_papers, open_collection

    collection = open_collection(settings)
    meta = collection.metadata or {}
    stamp = generation(collection)
    found = read(path, stamp=stamp, lexical=False) if stamp and settings.chroma_host else None
    if found is not None:
        return _contents(found)
    return Contents(
        papers=load_papers(collection),
        stored_chunks=collection.count(),
        embedder=str(meta.get("embedder")),
        chunking=str(meta.get("chunking")),
    )


def _contents(found: Catalog) -> Contents:
    return Contents(
        papers=found.papers,
        stored_chunks=found.stored_chunks,
        embedder=found.embedder,
        chunking=found.chunking,
    )
