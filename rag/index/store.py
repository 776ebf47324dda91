"""The Chroma collection: embedded or server client, identity checks, chunk and paper I/O."""

from __future__ import annotations

import json
import mmap
import tempfile
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.config import Settings
from rag.corpus.chunking import CHUNKER_VERSION
from rag.embed.base import index_identity
from rag.errors import PaperchatError, exc_detail
from rag.records import Chunk, Paper

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

# Chunks read per request, at most what the server takes. Chroma pages by offset, and a page's
# cost grows with its offset (3.5 s at offset 1M on `chroma run` 1.5, 2,000 or 5,461 records
# alike), so pages are as large as the server allows.
PAGE = 10_000
# What llama-index's ChromaVectorStore adds to every chunk's metadata (`_node_content` repeats
# all of it as JSON); paperchat reads its own keys only.
LLAMA_INDEX_KEYS = frozenset(["_node_content", "_node_type", "doc_id", "document_id", "ref_doc_id"])
MAX_VALUE_BYTES = 4096  # Chroma Cloud's limit on one metadata value (a local store has none)
# The author list's share of it: llama-index also stores every chunk's metadata again, escaped,
# inside its `_node_content` value, so the list gets half and the other fields the rest.
AUTHORS_BYTES = MAX_VALUE_BYTES // 2
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
        _forget_client(str(path))
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


def _forget_client(path: str) -> None:
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
            return client.create_collection(
                settings.collection,
                metadata={"embedder": wanted.embedder, "chunking": wanted.chunking},
                configuration={"hnsw": {"space": "cosine"}},
                embedding_function=None,
            )
        collection = client.get_collection(settings.collection, embedding_function=None)
    except StoreError:
        raise
    except Exception as exc:
        if settings.chroma_host:
            raise server_error(settings, exc) from None
        _forget_client(str(settings.data_dir / "chroma"))
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
    return sorted(
        c.name for c in found if "embedder" in (getattr(c, "metadata", None) or {})
    )


def drop_collection(settings: Settings) -> None:
    """Delete the collection if it exists."""
    client = _client(settings)
    if settings.collection in {getattr(c, "name", c) for c in client.list_collections()}:
        client.delete_collection(settings.collection)


def _stored_authors(authors: Sequence[str]) -> list[str]:
    """The authors, only the first ones when the list as JSON exceeds AUTHORS_BYTES."""
    kept: list[str] = []
    size = 2  # the brackets
    for name in authors:
        size += len(json.dumps(name).encode()) + 2  # the name and ", "
        if size > AUTHORS_BYTES:
            break
        kept.append(name)
    return kept


def paper_metadata(paper: Paper, content_hash: str, n_chunks: int) -> dict[str, Any]:
    """Flatten a paper into the metadata every one of its chunks carries.

    An author list longer than AUTHORS_BYTES as JSON (a collaboration of hundreds) keeps its
    first authors, and `n_authors` the full count, so that no value exceeds MAX_VALUE_BYTES.
    """
    authors = _stored_authors(paper.authors)
    cut = len(paper.authors) if len(authors) < len(paper.authors) else 0
    return {
        "paper_id": paper.id,
        "title": paper.title,
        "title_derived": paper.title_derived,
        "authors": json.dumps(authors),
        "year": paper.year if paper.year is not None else -1,
        "date": paper.date or "",
        "url": paper.url or "",
        "n_authors": max(paper.n_authors or 0, cut),
        "upvotes": paper.upvotes if paper.upvotes is not None else -1,
        "sources": json.dumps(paper.sources),
        "content_hash": content_hash,
        "n_chunks": n_chunks,
    }


def paper_from_metadata(meta: dict[str, Any], abstract: str) -> Paper:
    """Rebuild a Paper from chunk metadata."""
    year, upvotes = int(meta.get("year", -1)), int(meta.get("upvotes", -1))
    return Paper(
        id=str(meta["paper_id"]),
        title=str(meta["title"]),
        abstract=abstract,
        authors=tuple(json.loads(str(meta.get("authors") or "[]"))),
        year=year if year >= 0 else None,
        date=str(meta.get("date") or "") or None,
        url=str(meta.get("url") or "") or None,
        title_derived=bool(meta.get("title_derived")),
        n_authors=int(meta.get("n_authors") or 0) or None,
        upvotes=upvotes if upvotes >= 0 else None,
        sources=tuple(json.loads(str(meta.get("sources") or "[]"))),
    )


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as the store holds it."""

    id: str
    text: str
    meta: dict[str, Any]


def max_batch(collection: Collection) -> int:
    """Records the server takes per write and returns per read (`get_max_batch_size`).

    A local `chroma run` says 5,461; Chroma Cloud documents 300 records per write and 300
    results per request.
    """
    return int(collection._client.get_max_batch_size())  # Collection keeps its client here


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
