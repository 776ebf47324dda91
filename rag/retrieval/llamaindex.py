"""paperchat's retriever as a llama-index component (this module imports llama-index).

    from rag import Settings
    from rag.retrieval.llamaindex import PaperchatRetriever

    nodes = PaperchatRetriever(Settings(), k=3).retrieve("which papers shorten CoT?")

Each result is one `NodeWithScore` per paper: the node's text is the abstract, its metadata
the paper's fields plus its passages best first, its score the hybrid (dense + BM25) score.
Nothing here touches llama-index's global `Settings`; no LLM or embedding model of
llama-index's is needed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.llms.types import ChatMessage as LlamaMessage
from llama_index.core.base.response.schema import Response
from llama_index.core.callbacks import CallbackManager
from llama_index.core.llms import LLM
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from rag.answer.llm import ChatMessage, LLMError, LLMUnavailable
from rag.config import Settings
from rag.errors import one_line
from rag.records import Hit
from rag.retrieval.retrieve import Filters, Mode, Retrieval

# Metadata a prompt or an embedding should not see: scores and the repeated passages.
HIDDEN = ["paper_id", "passages", "dense_score", "lexical_score", "sources"]


class Searcher(Protocol):
    """Anything that ranks papers like `retrieve.Retriever` (a `PaperChat` does too)."""

    def search(
        self, question: str, k: int, filters: Filters | None = None, mode: Mode = "hybrid"
    ) -> Retrieval:
        """Rank papers for a question."""
        ...


def paper_node(hit: Hit) -> NodeWithScore:
    """One retrieved paper as a llama-index node with its score."""
    paper = hit.paper
    metadata: dict[str, Any] = {
        "paper_id": paper.id,
        "title": paper.title,
        "authors": ", ".join(paper.authors),
        "year": paper.year,
        "url": paper.url,
        "sources": list(paper.source_names),
        "passages": [p.text for p in hit.passages],
        "dense_score": hit.dense_score,
        "lexical_score": hit.lexical_score,
    }
    node = TextNode(
        id_=paper.id,
        text=paper.abstract,
        metadata={key: value for key, value in metadata.items() if value is not None},
        excluded_llm_metadata_keys=HIDDEN,
        excluded_embed_metadata_keys=HIDDEN,
    )
    return NodeWithScore(node=node, score=hit.score)


class PaperchatRetriever(BaseRetriever):
    """The hybrid paper retriever (dense + BM25, author-aware, filterable) for llama-index."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        mode: Mode = "hybrid",
        searcher: Searcher | None = None,
        callback_manager: CallbackManager | None = None,
    ) -> None:
        super().__init__(callback_manager=callback_manager)
        self.settings = settings or Settings()
        self.k = k or self.settings.top_k
        self.filters = filters
        self.mode: Mode = mode
        self._searcher = searcher

    @property
    def searcher(self) -> Searcher:
        """The paperchat retriever, opened (index, catalog, embedder) on first use."""
        if self._searcher is None:
            from rag.embed import make_embedder
            from rag.retrieval.retrieve import Retriever

            s = self.settings
            self._searcher = Retriever(s, make_embedder(s.embed_model, s.embed_batch_size, s))
        return self._searcher

    def search(self, question: str) -> Retrieval:
        """The full paperchat result (hits plus the evidence the abstention check reads)."""
        return self.searcher.search(question, self.k, self.filters, self.mode)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        if not query_bundle.query_str.strip():
            return []
        return [paper_node(hit) for hit in self.search(query_bundle.query_str).hits]


class PaperchatQueryEngine(CustomQueryEngine):
    """paperchat's whole answer pipeline as a llama-index query engine.

    `query()` returns a `Response` whose text is the checked answer (claims cited, corrected or
    marked, fallbacks applied) and whose source nodes are the cited papers, in citation order;
    its metadata carries the claims, the backend and whether it abstained.
    """

    session: Any  # a rag.pipeline.PaperChat

    def custom_query(self, query_str: str) -> Response:
        """Answer a question through paperchat."""
        from dataclasses import asdict

        answer = self.session.ask(query_str)
        by_id = {h.paper.id: h for h in answer.hits}
        nodes = [paper_node(by_id[c.paper_id]) for c in answer.citations if c.paper_id in by_id]
        return Response(
            response=answer.text,
            source_nodes=nodes,
            metadata={
                "claims": [asdict(c) for c in answer.claims],
                "backend": answer.backend,
                "model": answer.model,
                "abstained": answer.abstained,
                "fallback": answer.fallback,
                "notices": list(answer.notices),
            },
        )


class LlamaIndexChat:
    """Any llama-index `LLM` (Ollama's native client, Anthropic, Gemini, Bedrock, ...) as the
    chat model of `PaperChat(settings, chat=LlamaIndexChat(llm))`; its answers go through the
    same claim check. Its failures become one-line `LLMError`s (connection failures
    `LLMUnavailable`, so the extractive fallback applies)."""

    def __init__(self, llm: LLM) -> None:
        self.llm = llm
        self.name = str(getattr(llm.metadata, "model_name", "") or type(llm).__name__)

    def stream(self, messages: Sequence[ChatMessage]) -> Iterator[str]:
        """Yield the answer as text deltas."""
        try:
            for part in self.llm.stream_chat(_messages(messages)):
                if part.delta:
                    yield part.delta
        except (ConnectionError, TimeoutError) as exc:
            raise LLMUnavailable(one_line(f"{self.name}: {exc}")) from None
        except Exception as exc:  # a provider's own error types: one line, never a traceback
            raise LLMError(one_line(f"{self.name}: {type(exc).__name__}: {exc}")) from None

    def complete(self, messages: Sequence[ChatMessage]) -> str:
        """Return the whole answer."""
        return "".join(self.stream(messages))


def _messages(messages: Sequence[ChatMessage]) -> list[LlamaMessage]:
    return [LlamaMessage(role=m.role, content=m.content) for m in messages]
