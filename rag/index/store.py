"""The Chroma collection: embedded or server client, identity checks, chunk and paper I/O.

The one module that talks to Chroma: every other module reaches the collection through the
functions here (`nearest`, `vectors_of`, `delete_chunks`, `relabel_chunks`, `add_chunks`,
`iter_chunks`, `count`, `generation`), and imports chromadb's `Collection` type from here.
"""

from __future__ import annotations

import json
import mmap
import tempfile
import weakref
from array import array
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.config import Settings
from rag.corpus.chunking import CHUNKER_VERSION
from rag.embed.base import index_identity
from rag.errors import PaperchatError, exc_detail
from rag.index.metadata import AUTHORS_BYTES as AUTHORS_BYTES  # re-exported
from rag.index.metadata import MAX_VALUE_BYTES as MAX_VALUE_BYTES  # re-exported
from rag.index.metadata import paper_from_metadata as paper_from_metadata  # re-exported
from rag.index.metadata import paper_metadata as paper_metadata  # re-exported
from rag.records import Chunk, Paper

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection as Collection  # re-exported type

# Chunks read per request, at most what the server takes. Chroma pages by offset, and a page's
# cost grows with its offset (3.5 s at offset 1M on `chroma run` 1.5, 2,000 or 5,461 records
# alike), so pages are as large as the server allows.
PAGE = 10_000
# What llama-index's ChromaVectorStore adds to every chunk's metadata (`_node_content` repeats
# all of it as JSON); paperchat reads its own keys only.
LLAMA_INDEX_KEYS = frozenset(["_node_content", "_node_type", "doc_id", "document_id", "ref_doc_id"])
GENERATION = "paperchat_generation"  # collection metadata key; see rag.index.writer
PENDING = "pending-"  # prefix of the stamp an ingest sets before its first write


class StoreError(PaperchatError):
    """The index is missing, unreachable, or built differently from the settings."""


@dataclass(frozen=True)
class Identity:
    """What defines an index: its embedder (by the vectors it makes) and its chunking."""

    embedder: str
    chunking: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Identity:
        """Build the identity the settings ask for."""
        return cls(
            index_identity(settings.embed_model), f"{CHUNKER_VERSION}/{settings.chunk_tokens}"
        )


def _client(settings: Settings) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    if settings.chroma_host:
        return _server_client(settings)
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    path = settings.data_dir / "chroma"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        where = path if settings.data_dir.is_dir() else settings.data_dir
        raise StoreError(
            f"cannot use {where} as the index folder ({exc.strerror or exc}); it must be a "
            "writable folder: move the file away or set PAPERCHAT_DATA_DIR elsewhere"
        ) from None
    try:
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as exc:
        forget_client(str(path))
        raise _unreadable(path, exc) from None


def _server_client(settings: Settings) -> Any:
    """A client of the Chroma server: its tenant and database, the token in its header.

    The token goes through chromadb's own token provider (`X-Chroma-Token: <token>` or
    `Authorization: Bearer <token>`); it is never part of an error message.
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    auth: dict[str, Any] = {}
    if settings.chroma_token is not None:
        auth = {
            "chroma_client_auth_provider": "chromadb.auth.token_authn.TokenAuthClientProvider",
            "chroma_client_auth_credentials": settings.chroma_token.get_secret_value(),
            "chroma_auth_token_transport_header": settings.chroma_token_header,
        }
    try:
        return chromadb.HttpClient(
            host=settings.chroma_host or "",
            port=settings.chroma_port,
            ssl=settings.chroma_ssl,
            settings=ChromaSettings(anonymized_telemetry=False, **auth),
            tenant=settings.chroma_tenant,
            database=settings.chroma_database,
        )
    except Exception as exc:
        raise server_error(settings, exc) from None


def server_error(settings: Settings, exc: BaseException) -> StoreError:
    """One line for a failure at the Chroma server, naming the setting that fixes it."""
    detail = exc_detail(exc)
    if settings.chroma_token is not None:
        detail = detail.replace(settings.chroma_token.get_secret_value(), "***")
    where = settings.store_location()
    low = detail.lower()
    if any(s in low for s in ("401", "403", "unauthori", "forbidden", "authentic", "permission")):
        if settings.chroma_token is None:
            return StoreError(
                f"{where} refused a request sent without a token ({detail}); set "
                "PAPERCHAT_CHROMA_TOKEN (and PAPERCHAT_CHROMA_TOKEN_HEADER=Authorization if it "
                "expects 'Authorization: Bearer')"
            )
        return StoreError(
            f"{where} refused the token sent in the {settings.chroma_token_header} header "
            f"({detail}); check PAPERCHAT_CHROMA_TOKEN and PAPERCHAT_CHROMA_TOKEN_HEADER"
        )
    if "tenant" in low or "database" in low:
        return StoreError(
            f"{where}: {detail}; check PAPERCHAT_CHROMA_TENANT and PAPERCHAT_CHROMA_DATABASE "
            "(they must exist on the server)"
        )
    return StoreError(f"cannot reach {where} ({detail})")


def _unreadable(path: Any, exc: BaseException) -> StoreError:
    """The one-line error for an index folder Chroma cannot open."""
    return StoreError(
        f"the index at {path} is unreadable ({exc_detail(exc)}); move that folder away (or "
        "delete it) and run `paperchat ingest` to build a new one"
    )


def forget_client(path: str) -> None:
    """Drop Chroma's cached client for `path` after a failed open, so a retry starts fresh."""
    try:
        from chromadb.api.shared_system_client import SharedSystemClient

        SharedSystemClient._identifier_to_system.pop(path, None)
    except Exception:  # a private detail of chromadb: best effort only
        pass


def open_collection(settings: Settings, create: bool = False) -> Collection:
    """Open the collection, checking it was built with the configured embedder and chunking."""
    wanted = Identity.from_settings(settings)
    if not create and not settings.chroma_host and not (settings.data_dir / "chroma").exists():
        raise StoreError(f"no index at {settings.data_dir}; run `paperchat ingest` first")
    client = _client(settings)
    try:
        names = {getattr(c, "name", c) for c in client.list_collections()}
        if settings.collection not in names:
            if not create:
                raise StoreError(
                    f"no index in {settings.store_location()}; run `paperchat ingest` first"
                )
            return _opened(
                client.create_collection(
                    settings.collection,
                    metadata={"embedder": wanted.embedder, "chunking": wanted.chunking},
                    configuration={"hnsw": {"space": "cosine"}},
                    embedding_function=None,
                ),
                client,
            )
        collection = _opened(
            client.get_collection(settings.collection, embedding_function=None), client
        )
    except StoreError:
        raise
    except Exception as exc:
        if settings.chroma_host:
            raise server_error(settings, exc) from None
        forget_client(str(settings.data_dir / "chroma"))
        raise _unreadable(settings.data_dir / "chroma", exc) from None
    meta = collection.metadata or {}
    if "embedder" not in meta or "chunking" not in meta:
        raise StoreError(
            f"the collection {settings.collection!r} in {settings.store_location()} was not made "
            "by paperchat (it has no embedder/chunking metadata); set PAPERCHAT_COLLECTION to "
            "another name, or replace it with `paperchat ingest --rebuild`"
        )
    check_identity(settings, str(meta.get("embedder")), str(meta.get("chunking")))
    return collection


def check_identity(settings: Settings, embedder: str, chunking: str) -> None:
    """Raise StoreError when an index was built with another embedder or chunking."""
    wanted = Identity.from_settings(settings)
    if Identity(index_identity(embedder), chunking) != wanted:
        raise StoreError(
            f"the index was built with embedder {embedder!r} and chunking {chunking!r}"
            f" but settings ask for {settings.embed_model!r} / {wanted.chunking!r}; "
            "rebuild it with `paperchat ingest --rebuild`"
        )


def generation(collection: Collection) -> str | None:
    """The collection's generation stamp (see `rag.index.writer`), None if it never had one."""
    value = (collection.metadata or {}).get(GENERATION)
    return str(value) if value else None


def fresh_generation(collection: Collection) -> str | None:
    """The collection's stamp as stored now (one request), not as it was when opened.

    Another process, or another machine on a shared server, may have ingested since; a
    collection dropped and made again (`ingest --rebuild`) is found again by its name.
    """
    opened = _OPENED.get(id(collection))
    if opened is None:  # not opened here: what it said when it was
        return generation(collection)
    try:
        now = opened.client.get_collection(collection.name, embedding_function=None)
    except Exception as exc:
        raise StoreError(f"cannot read the index's state ({exc_detail(exc)})") from None
    value = (now.metadata or {}).get(GENERATION)
    return str(value) if value else None


def set_generation(collection: Collection, value: str) -> None:
    """Record a new generation stamp in the collection metadata."""
    collection.modify(metadata={**(collection.metadata or {}), GENERATION: value})


def collection_names(settings: Settings) -> list[str]:
    """The names of the collections paperchat made in the store (embedder metadata), sorted."""
    if not settings.chroma_host and not (settings.data_dir / "chroma").exists():
        return []
    client = _client(settings)
    try:
        found = client.list_collections()
    except Exception as exc:
        if settings.chroma_host:
            raise server_error(settings, exc) from None
        raise _unreadable(settings.data_dir / "chroma", exc) from None
    return sorted(c.name for c in found if "embedder" in (getattr(c, "metadata", None) or {}))


def drop_collection(settings: Settings) -> None:
    """Delete the collection if it exists."""
    client = _client(settings)
    if settings.collection in {getattr(c, "name", c) for c in client.list_collections()}:
        client.delete_collection(settings.collection)


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as the store holds it."""

    id: str
    text: str
    meta: dict[str, Any]


def max_batch(collection: Collection) -> int:
    """Records the server takes per write and returns per read (`get_max_batch_size`).

    A local `chroma run` says 5,461; Chroma Cloud documents 300 records per write and 300
    results per request. Asked of the client that opened the collection (the client's public
    `get_max_batch_size`), once per collection.
    """
    opened = _OPENED[id(collection)]
    if opened.max_batch is None:
        opened.max_batch = int(opened.client.get_max_batch_size())
    return opened.max_batch


@dataclass
class _Opened:
    """The client that opened a collection, and its batch limit once asked."""

    client: Any
    max_batch: int | None = None


# id(collection) -> its client; an entry goes when its collection does (chromadb's Collection
# is unhashable, so no WeakKeyDictionary)
_OPENED: dict[int, _Opened] = {}


def _opened(collection: Collection, client: Any) -> Collection:
    """Remember the client a collection came from (for `max_batch`); return the collection."""
    _OPENED[id(collection)] = _Opened(client)
    weakref.finalize(collection, _OPENED.pop, id(collection), None)
    return collection


def count(collection: Collection) -> int:
    """The number of chunks the collection holds (half-written papers included)."""
    return int(collection.count())


def built_with(collection: Collection) -> Identity:
    """The embedder and chunking recorded in the collection's metadata."""
    meta = collection.metadata or {}
    return Identity(str(meta.get("embedder")), str(meta.get("chunking")))


def nearest(collection: Collection, query: Sequence[float], n: int) -> list[tuple[str, float]]:
    """(chunk id, cosine distance) of the n chunks nearest to a query vector, nearest first."""
    result = collection.query(
        query_embeddings=[list(query)],  # type: ignore[arg-type]
        n_results=n,
        include=["distances"],  # type: ignore[list-item]
    )
    return list(zip(result["ids"][0], (result["distances"] or [[]])[0], strict=True))


def vectors_of(collection: Collection, ids: Sequence[str]) -> tuple[list[str], list[Any]]:
    """(ids found, their vectors) of these chunks, fetched by id a batch at a time."""
    found: list[str] = []
    vectors: list[Any] = []
    step = max_batch(collection)
    for start in range(0, len(ids), step):
        page = collection.get(ids=list(ids[start : start + step]), include=["embeddings"])
        found += page["ids"]
        vectors += list(page["embeddings"] if page["embeddings"] is not None else [])
    return found, vectors


def delete_chunks(collection: Collection, ids: Sequence[str]) -> None:
    """Delete chunks by id, a batch at a time."""
    step = max_batch(collection)
    for start in range(0, len(ids), step):
        collection.delete(ids=list(ids[start : start + step]))


def relabel_chunks(
    collection: Collection, ids: Sequence[str], metas: Sequence[dict[str, Any]]
) -> None:
    """Replace the metadata of these chunks (texts and vectors kept)."""
    collection.update(ids=list(ids), metadatas=list(metas))  # type: ignore[arg-type]


@contextmanager
def write_errors(settings: Settings) -> Iterator[None]:
    """Turn Chroma failures mid-ingest into one StoreError line (what was written stays valid)."""
    from chromadb.errors import ChromaError

    try:
        yield
    except (ChromaError, OSError) as exc:
        raise StoreError(
            f"writing to {settings.store_location()} failed ({exc_detail(exc)}); papers written "
            "so far are complete, run `paperchat ingest` again to finish"
        ) from None


def iter_chunks(
    collection: Collection,
    include_text: bool = True,
    limit: int | None = None,
    where: dict[str, Any] | None = None,
) -> Iterator[StoredChunk]:
    """Yield every chunk in the collection (those `where` matches; the first `limit`), paged."""
    include: list[Any] = ["metadatas", "documents"] if include_text else ["metadatas"]
    offset = 0
    size = min(PAGE, max_batch(collection), limit or PAGE)
    while True:
        page = collection.get(include=include, limit=size, offset=offset, where=where)
        ids = page["ids"]
        docs = page.get("documents") or [""] * len(ids)
        for cid, doc, meta in zip(ids, docs, page["metadatas"] or [], strict=True):
            yield StoredChunk(cid, doc or "", dict(meta or {}))
        offset += len(ids)
        if len(ids) < size or (limit is not None and offset >= limit):
            return


def iter_papers(
    collection: Collection, spill: Path, progress: Callable[[int, int], None] | None = None
) -> Iterator[tuple[dict[str, Any], list[str]]]:
    """Every complete paper's metadata and chunk texts (in chunk order), sorted by paper id.

    Chroma returns chunks in no useful order. Each is appended to the file `spill` as it is
    read, keeping only its paper id and the file offset (about 30 bytes a chunk); the ids are
    sorted and the file is read back paper by paper, so memory does not grow with the
    collection's text. A paper with fewer chunks than it records (an interrupted ingest) is
    left out. The caller removes `spill`. `progress(chunks read, chunks stored)` follows
    the reading, a page at a time.
    """
    total = collection.count() if progress else 0
    offsets = array("q", [0])
    ids: list[np.ndarray] = []
    page: list[bytes] = []
    with spill.open("wb") as f:
        for chunk in iter_chunks(collection):
            meta = {k: v for k, v in chunk.meta.items() if k not in LLAMA_INDEX_KEYS}
            line = json.dumps([meta, chunk.text], ensure_ascii=False).encode()
            f.write(line)
            offsets.append(offsets[-1] + len(line))
            page.append(str(chunk.meta["paper_id"]).encode())
            if len(page) == PAGE:
                ids.append(np.array(page))
                page = []
                if progress:
                    progress(len(offsets) - 1, total)
    if page:
        ids.append(np.array(page))
    if not ids:
        return
    keys = np.concatenate(ids)
    del ids
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    starts = [0, *(np.flatnonzero(keys[1:] != keys[:-1]) + 1).tolist(), len(keys)]
    del keys
    with spill.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as blob:
        for start, end in zip(starts[:-1], starts[1:], strict=True):  # one paper's chunks
            parts: dict[int, str] = {}
            for n in order[start:end].tolist():
                meta, text = json.loads(blob[offsets[n] : offsets[n + 1]])
                parts[int(meta["chunk_index"])] = text
            if len(parts) == int(meta["n_chunks"]):
                yield meta, [parts[i] for i in sorted(parts)]


def load_papers(collection: Collection) -> list[Paper]:
    """Rebuild every complete paper (abstract joined from its chunks) from the store."""
    with tempfile.TemporaryDirectory(prefix="paperchat-") as tmp:
        return [
            paper_from_metadata(meta, " ".join(texts))
            for meta, texts in iter_papers(collection, Path(tmp) / "chunks.jsonl")
        ]


def add_chunks(
    collection: Collection,
    chunks: Sequence[Chunk],
    vectors: Sequence[list[float]],
    metas: Sequence[dict[str, Any]],
) -> None:
    """Write chunks with their vectors through llama-index's Chroma vector store."""
    from llama_index.core.schema import BaseNode, NodeRelationship, RelatedNodeInfo, TextNode
    from llama_index.vector_stores.chroma import ChromaVectorStore

    nodes: list[BaseNode] = [
        TextNode(
            id_=chunk.id,
            text=chunk.text,
            embedding=vector,
            metadata={**meta, "chunk_index": chunk.index},
            relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=chunk.paper_id)},
        )
        for chunk, vector, meta in zip(chunks, vectors, metas, strict=True)
    ]
    ChromaVectorStore(chroma_collection=collection).add(nodes)
