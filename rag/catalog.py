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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag import identifiers
from rag.config import Settings
from rag.records import Paper

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

    from rag.lexical import LexicalIndex

FORMAT = 2  # 2: each paper row carries its identifiers; format 1 files are still read
READABLE = (1, FORMAT)
HEADER, PAPERS, VOCAB = "catalog.json", "papers.json", "vocab.json"
MATRIX_V1 = ("data", "indices", "indptr")  # format 1: the CSC arrays of BM25 scores
MATRIX = ("counts", "indices", "indptr", "doc_len")  # format 2: term counts; scores from them


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


LEXICAL_DOC = "title2-authors-abstract"
LEXICAL_V1 = "title2-authors-abstract/k1=1.2/b=0.75"  # what format-1 catalogs were built with


def lexical_doc(paper: Paper) -> str:
    """The text BM25 indexes for a paper (title twice, authors, abstract)."""
    return f"{paper.title}. {paper.title}. {', '.join(paper.authors)}. {paper.abstract}"


def from_collection(collection: Collection, stamp: str | None, lexical: bool = True) -> Catalog:
    """Read every chunk of a collection, group them into complete papers, index them for BM25."""
    from rag.lexical import LexicalIndex
    from rag.store import iter_chunks, paper_from_metadata

    meta = collection.metadata or {}
    parts: dict[str, dict[int, str]] = {}
    metas: dict[str, dict[str, Any]] = {}
    for chunk in iter_chunks(collection):
        pid = str(chunk.meta["paper_id"])
        parts.setdefault(pid, {})[int(chunk.meta["chunk_index"])] = chunk.text
        metas[pid] = chunk.meta
    papers: list[Paper] = []
    texts: list[list[str]] = []
    for pid in sorted(parts):
        if len(parts[pid]) != int(metas[pid]["n_chunks"]):
            continue  # a half-written paper from an interrupted ingest
        ordered = [parts[pid][i] for i in sorted(parts[pid])]
        paper = paper_from_metadata(metas[pid], " ".join(ordered))
        papers.append(identifiers.from_metadata(paper, metas[pid]))
        texts.append(ordered)
    return Catalog(
        stamp,
        str(meta.get("embedder")),
        str(meta.get("chunking")),
        collection.count(),
        papers,
        texts,
        LexicalIndex.build([lexical_doc(p) for p in papers]) if lexical else None,
    )


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
    new texts are tokenized. None when `base` cannot be updated (no term counts: format 1).
    """
    import numpy as np

    from rag.lexical import tokenize

    if base.lexical is None or base.lexical.counts is None:
        return None
    rows = {p.id: (p, t) for p, t in zip(base.papers, base.texts, strict=True)}
    fresh: set[str] = set()
    for paper, texts in changed:
        if texts is None:
            texts = rows[paper.id][1]
            paper = replace(paper, abstract=" ".join(texts))
        else:
            fresh.add(paper.id)
        rows[paper.id] = (paper, texts)
    for pid in removed:
        rows.pop(pid, None)
    order = sorted(rows)
    position = {pid: i for i, pid in enumerate(order)}
    kept = np.array(
        [-1 if p.id in fresh or p.id not in position else position[p.id] for p in base.papers],
        dtype=np.int64,
    )
    added = {position[pid]: tokenize(lexical_doc(rows[pid][0])) for pid in fresh}
    papers = [rows[pid][0] for pid in order]
    return Catalog(
        stamp,
        base.embedder,
        base.chunking,
        stored_chunks,
        papers,
        [rows[pid][1] for pid in order],
        base.lexical.updated(kept, added, len(order)),
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
        [paper.doi, paper.arxiv_id, list(paper.source_ids)],
        texts,
    ]


def _paper(row: list[Any]) -> Paper:
    doi, arxiv_id, source_ids = row[10] if len(row) == 12 else (None, None, [])
    pid, title, authors, year, date, url, derived, n_authors, upvotes, sources = row[:10]
    texts = row[-1]
    return Paper(
        pid,
        title,
        " ".join(texts),
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
        "lexical": lexical_version(),
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
                        np.lib.format.write_array(member, _array(lexical, name))
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
            if header.get("format") not in READABLE or (
                stamp is not None and header["stamp"] != stamp
            ):
                return None
            rows = json.loads(zf.read(PAPERS))
            papers = [_paper(r) for r in rows]
            index = None
            if lexical and header.get("lexical", LEXICAL_V1) == lexical_version():
                index = _read_lexical(zf, header)
        if lexical and index is None:  # saved by another version: re-index, Chroma not needed
            from rag.lexical import LexicalIndex

            index = LexicalIndex.build([lexical_doc(p) for p in papers])
        return Catalog(
            header["stamp"],
            header["embedder"],
            header["chunking"],
            header["stored_chunks"],
            papers,
            [r[-1] for r in rows],
            index,
        )
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile):
        return None


def read_stamp(path: Path) -> str | None:
    """The generation stamp of the catalog at `path`, or None when there is none."""
    try:
        with zipfile.ZipFile(path) as zf:
            stamp = json.loads(zf.read(HEADER)).get("stamp")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    return str(stamp) if stamp else None


def _array(lexical: LexicalIndex, name: str) -> Any:
    value = getattr(lexical, name)
    assert value is not None, "a LexicalIndex saved by the catalog keeps its counts"
    return value


def _read_lexical(zf: zipfile.ZipFile, header: dict[str, Any]) -> LexicalIndex | None:
    import numpy as np

    from rag.lexical import TOKENIZER, LexicalIndex

    if header.get("tokenizer") != TOKENIZER:
        return None
    arrays = {}
    for name in MATRIX if header["format"] >= 2 else MATRIX_V1:
        with zf.open(f"{name}.npy") as member:
            arrays[name] = np.lib.format.read_array(member, allow_pickle=False)
    vocab = json.loads(zf.read(VOCAB))
    if header["format"] < 2:
        return LexicalIndex(
            vocab, arrays["data"], arrays["indices"], arrays["indptr"], header["n_docs"]
        )
    return LexicalIndex.from_arrays(
        vocab, arrays["counts"], arrays["indices"], arrays["indptr"], arrays["doc_len"]
    )


def lexical_version() -> str:
    """What the BM25 matrix depends on besides the papers: fields, tokenizer, parameters."""
    from rag.lexical import K1, B

    return f"{LEXICAL_DOC}/k1={K1}/b={B}"


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
            return Contents(found.papers, found.stored_chunks, found.embedder, found.chunking)
    from rag.store import generation, open_collection

    collection = open_collection(settings)
    stamp = generation(collection)
    found = read(path, stamp=stamp, lexical=False) if stamp and settings.chroma_host else None
    if found is None:
        found = from_collection(collection, stamp, lexical=False)
    return Contents(found.papers, found.stored_chunks, found.embedder, found.chunking)
