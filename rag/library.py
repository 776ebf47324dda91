"""One door to an index: open it, follow ingests, report a busy index, search, ask, ingest.

Every shell (the CLI, the web UI, an HTTP API, the eval harness) goes through a `Library`:

    from rag import Library, Settings
    library = Library(Settings())
    answer = library.ask("which papers shorten chain-of-thought?")
    for item in library.stream("and how?", history=[...]):  # text pieces, then the Answer
        ...
    library.papers(); library.stats(); library.ingest([Path("corpus/")])

A `Library` holds at most one loaded `PaperChat` (embedder, catalog, BM25) and keeps it in
step with the index: before each question it reads the collection's generation stamp once
(`rag.index.store.fresh_generation`, one request) and reloads when another process, or
another machine on a shared Chroma server, ingested since. While an ingest holds this data
dir's lock, questions raise `IndexBusy` (`busy()` says who holds it). `papers()` and
`stats()` read the saved catalog and need neither chromadb nor torch when it is current.
It is safe to share between threads (a served UI does).

`Libraries` keeps one `Library` per collection of a store, made on first use (the web UI's
collection selector and the HTTP API's models go through it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.config import Settings
from rag.errors import PaperchatError

if TYPE_CHECKING:
    from rag.answer.conversation import Turn
    from rag.answer.llm import ChatModel
    from rag.embed import Embedder
    from rag.index.catalog import Contents, ReadProgress
    from rag.index.writer import IngestReport, Progress
    from rag.pipeline import PaperChat
    from rag.records import Answer, Paper
    from rag.retrieval.retrieve import Filters, Mode, Retrieval


class IndexBusy(PaperchatError):
    """An ingest holds the index: answers wait until it finishes."""


@dataclass(frozen=True)
class IndexStats:
    """What an index holds and where, as `paperchat stats` shows it."""

    papers: int
    chunks: int
    embedder: str
    chunking: str
    store: str
    collection: str
    backend: str
    llm_model: str | None
    llm_base_url: str | None


class Library:
    """An index and everything asked of it; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        chat: PaperChat | None = None,
        embedder: Embedder | None = None,
        chat_model: ChatModel | None = None,
    ) -> None:
        """`chat`: an already loaded PaperChat to start from (its settings win); `embedder`
        and `chat_model` are used when a PaperChat is built here."""
        self.settings = chat.settings if chat is not None else settings
        self._chat = chat
        self._embedder = embedder
        self._chat_model = chat_model
        self._contents: Contents | None = None
        self._lock = threading.Lock()

    # the index's state

    def busy(self) -> str | None:
        """Who holds this data dir's ingest lock ("pid 123"), or None when no ingest runs."""
        from rag.index.lock import ingest_holder

        return ingest_holder(self.settings)

    def open(self, progress: ReadProgress | None = None) -> PaperChat:
        """The PaperChat over the index as it is now: loaded on first use, reloaded after an
        ingest changed the index (one stamp read when loaded); IndexBusy while one runs.

        `progress(chunks read, chunks stored)` follows a read-back from Chroma, which a load
        needs when no current catalog is saved (a first start against a shared server).
        """
        holder = self.busy()
        if holder:
            raise IndexBusy(
                f"the index is being updated right now (`paperchat ingest`, {holder}); "
                "ask again when it finishes"
            )
        with self._lock:
            if self._chat is None or self._changed(self._chat):
                self._chat = self._load(progress)
            return self._chat

    def _changed(self, chat: PaperChat) -> bool:
        """Tell whether the collection's stamp moved on from the one `chat` was loaded at."""
        from rag.index.store import StoreError, fresh_generation

        try:
            return fresh_generation(chat.retriever.collection) != chat.retriever.stamp
        except StoreError:  # dropped or unreachable: reloading says which, in one line
            return True

    def _load(self, progress: ReadProgress | None) -> PaperChat:
        from rag.pipeline import PaperChat

        old = self._chat  # its embedder is kept: a reload reads the index, not the model
        embedder = old.embedder if old is not None else self._embedder
        return PaperChat(self.settings, embedder=embedder, chat=self._chat_model, progress=progress)

    def loaded_embedder(self) -> Embedder | None:
        """The embedder in use: the loaded PaperChat's, else the one given, else None."""
        return self._chat.embedder if self._chat is not None else self._embedder

    def warm(self) -> int:
        """Load everything a first answer needs now; see `PaperChat.warm`."""
        return self.open().warm()

    # reading the index

    def papers(self) -> list[Paper]:
        """Every indexed paper, in id order; read again only once the index changed."""
        return list(self._current_contents().papers)

    def stats(self) -> IndexStats:
        """What the index holds (papers, chunks, embedder, chunking) and where."""
        held = self._current_contents()
        s = self.settings
        backend = s.resolved_backend()
        return IndexStats(
            papers=len(held.papers),
            chunks=held.stored_chunks,
            embedder=held.embedder,
            chunking=held.chunking,
            store=s.store_location(),
            collection=s.collection,
            backend=backend,
            llm_model=s.openai_model if backend == "openai" else None,
            llm_base_url=s.openai_base_url,
        )

    def _current_contents(self) -> Contents:
        """The catalog's contents, kept while the stamp they were read at is still current.

        The stamp is read from the open collection when a PaperChat is loaded, else from the
        saved catalog's header (for the embedded store a saved catalog is current); on a
        Chroma server with nothing loaded they are read again each time.
        """
        from rag.index import catalog

        held = self._contents
        if held is None or held.stamp is None or held.stamp != self._stamp_now():
            held = catalog.contents(self.settings)
            self._contents = held
        return held

    def _stamp_now(self) -> str | None:
        from rag.index import catalog

        chat = self._chat
        if chat is not None:
            from rag.index.store import StoreError, fresh_generation

            try:
                return fresh_generation(chat.retriever.collection)
            except StoreError:
                return None
        if self.settings.chroma_host:
            return None
        return catalog.read_stamp(catalog.path_for(self.settings))

    # asking

    def search(
        self,
        query: str,
        k: int | None = None,
        filters: Filters | None = None,
        mode: Mode = "hybrid",
    ) -> Retrieval:
        """Rank papers for a query (`k` defaults to the settings' top_k)."""
        return self.open().search(query, k, filters, mode)

    def stream(
        self,
        question: str,
        k: int | None = None,
        filters: Filters | None = None,
        backend: str | None = None,
        history: Sequence[Turn] = (),
    ) -> Iterator[str | Answer]:
        """Yield the answer's text as it is written, then the checked Answer record."""
        return self.open().stream(question, k=k, filters=filters, backend=backend, history=history)

    def ask(self, question: str, **options: Any) -> Answer:
        """Answer a question with citations; options as in `stream`."""
        return self.open().ask(question, **options)

    # writing

    def ingest(
        self,
        paths: Iterable[Path],
        rebuild: bool = False,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Bring the index in line with these files (see `rag.index.writer.ingest`); the next
        question sees the result."""
        from rag.embed import make_embedder
        from rag.index.writer import ingest

        s = self.settings
        embedder = self.loaded_embedder()
        if embedder is None:
            embedder = self._embedder = make_embedder(s.embed_model, s.embed_batch_size, s)
        return ingest(paths, s, embedder, rebuild=rebuild, progress=progress)


class Libraries:
    """One `Library` per collection of a store, made on first use and kept (each reloads after
    an ingest on its own); a new one shares the embedder another has loaded. Thread-safe."""

    def __init__(self, base: Settings, first: Library | PaperChat | None = None) -> None:
        """`base`: the settings every collection shares; its collection is the default one.
        `first`: a library (or a loaded PaperChat) already open on the default collection."""
        self.base = base
        self._lock = threading.Lock()
        self._open: dict[str, Library] = {}
        if first is not None:
            library = first if isinstance(first, Library) else Library(base, chat=first)
            self._open[base.collection] = library

    @property
    def default(self) -> str:
        """The configured collection."""
        return self.base.collection

    def names(self) -> list[str]:
        """The collections that can be asked, sorted: the store's (as `paperchat collections
        list` finds them) and the configured one, even before its first ingest."""
        from rag.index.store import collection_names

        return sorted({self.base.collection, *collection_names(self.base)})

    def get(self, collection: str) -> Library:
        """The library over `collection`; CollectionError when the store has no such one."""
        from rag.index.collections import CollectionError

        # the configured collection is always one of `names()`: no store listing for it (the
        # UI and the API ask for it with every question)
        if collection != self.base.collection and collection not in self.names():
            raise CollectionError(
                f"no collection {collection!r} in {self.base.store_location()}; "
                "`paperchat collections list` shows the ones there are"
            )
        with self._lock:
            library = self._open.get(collection)
            if library is None:
                chosen = self.base.model_copy(update={"collection": collection})
                library = Library(chosen, embedder=self._shared_embedder())
                self._open[collection] = library
            return library

    def _shared_embedder(self) -> Embedder | None:
        """An embedder one of the libraries has loaded (one model in memory for them all)."""
        loaded = (lib.loaded_embedder() for lib in self._open.values())
        return next((e for e in loaded if e is not None), None)

    def busy(self) -> str | None:
        """Who holds the store's ingest lock (every collection waits for it), or None."""
        from rag.index.lock import ingest_holder

        return ingest_holder(self.base)
