"""The public pipeline: retrieve, answer with an LLM or extractively, check citations."""

from __future__ import annotations

import re
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import replace

from rag.citations import check_citations
from rag.config import Settings
from rag.conversation import Turn, condense, condense_with_llm
from rag.embed import Embedder, make_embedder
from rag.errors import PaperchatError
from rag.extractive import best_sentences, compose, select_hits
from rag.lexical import query_terms, tokenize
from rag.llm import ChatModel, LLMError, LLMUnavailable, OpenAIChat
from rag.prompt import NOT_COVERED, fit_messages
from rag.records import Answer, Citation, Hit
from rag.retrieve import Filters, Mode, Retrieval, Retriever

MAX_QUESTION_CHARS = 2000


class QuestionError(PaperchatError):
    """The question cannot be asked as given."""


def validate_question(question: str) -> str:
    """Return the cleaned question or raise QuestionError with one clear line."""
    cleaned = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", question or "").strip()
    if not cleaned:
        raise QuestionError("the question is empty")
    if len(cleaned) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"the question is too long ({len(cleaned)} characters;"
            f" the limit is {MAX_QUESTION_CHARS})"
        )
    return cleaned


def _citation(n: int, hit: Hit, passage: str) -> Citation:
    p = hit.paper
    source = p.source_names[0] if p.source_names else ""
    return Citation(n, p.id, p.title, p.authors, p.year, source, passage)


class PaperChat:
    """A loaded index ready to answer: build once, ask many times."""

    def __init__(
        self, settings: Settings, embedder: Embedder | None = None, chat: ChatModel | None = None
    ) -> None:
        self.settings = settings
        self.embedder = embedder or make_embedder(
            settings.embed_model, settings.embed_batch_size, settings
        )
        self.retriever = Retriever(settings, self.embedder)
        self._chats: dict[str, ChatModel] = {"openai": chat} if chat else {}

    def chat_model(self, backend: str = "openai") -> ChatModel:
        """Return the LLM client for a backend ('openai' or 'local'), built on first use."""
        if backend not in self._chats:
            self._chats[backend] = self._build_chat(backend)
        return self._chats[backend]

    def _build_chat(self, backend: str) -> ChatModel:
        s = self.settings
        if backend == "local":
            from rag.local_llm import LocalChat

            return LocalChat.from_settings(s)
        key = s.openai_api_key.get_secret_value() if s.openai_api_key else None
        return OpenAIChat(
            s.openai_model,
            key,
            s.openai_base_url,
            temperature=s.temperature,
            max_tokens=s.max_answer_tokens,
            timeout=s.request_timeout,
        )

    def search(
        self,
        query: str,
        k: int | None = None,
        filters: Filters | None = None,
        mode: Mode = "hybrid",
    ) -> Retrieval:
        """Rank papers for a query."""
        return self.retriever.search(
            validate_question(query), k or self.settings.top_k, filters, mode
        )

    def ask(self, question: str, **kwargs: object) -> Answer:
        """Answer a question; see `stream` for the options."""
        final: Answer | None = None
        for item in self.stream(question, **kwargs):  # type: ignore[arg-type]
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def stream(
        self,
        question: str,
        k: int | None = None,
        filters: Filters | None = None,
        backend: str | None = None,
        history: Sequence[Turn] = (),
    ) -> Iterator[str | Answer]:
        """Yield the answer text as it is written, then the finished Answer record."""
        start = time.perf_counter()
        question = validate_question(question)
        chosen = self.settings.model_copy(update={"backend": backend}) if backend else self.settings
        name = chosen.resolved_backend()
        standalone = self._standalone(question, history, name)
        retrieval = self.retriever.search(standalone, k or self.settings.top_k, filters)
        t_retrieved = time.perf_counter()
        timings = {"retrieval_ms": (t_retrieved - start) * 1000}
        if not self.covers(retrieval, filters):
            answer = self._abstain(question, retrieval, name)
            yield answer.text
        elif name in ("openai", "local"):
            answer = yield from self._llm(question, standalone, retrieval, name)
        else:
            answer = self._extractive(question, retrieval)
            yield answer.text
        timings["generation_ms"] = (time.perf_counter() - t_retrieved) * 1000
        timings["total_ms"] = (time.perf_counter() - start) * 1000
        yield replace(answer, timings={k: round(v, 1) for k, v in timings.items()})

    def _standalone(self, question: str, history: Sequence[Turn], backend: str) -> str:
        """Rewrite a follow-up as a standalone question: by the LLM when one answers."""
        if history and backend == "openai":
            return condense_with_llm(self.chat_model("openai"), question, history)
        return condense(question, history)

    def covers(self, retrieval: Retrieval, filters: Filters | None = None) -> bool:
        """Decide whether the evidence covers the question (an author in scope always does)."""
        if not retrieval.hits:
            return False
        if retrieval.author:
            return True
        if filters and filters.author and not query_terms(retrieval.query):
            return True  # "what has this author worked on?" with an author filter set
        return retrieval.relevance >= self.settings.min_relevance

    def _abstain(self, question: str, retrieval: Retrieval, backend: str, note: str = "") -> Answer:
        closest = "; ".join(f"“{h.paper.title}”" for h in retrieval.hits[:3])
        text = "The collection does not cover this question."
        if closest:
            text += f" The closest papers are {closest}."
        return Answer(question, note + text, (), True, backend, None, retrieval.hits)

    def _extractive(
        self, question: str, retrieval: Retrieval, notices: tuple[str, ...] = ()
    ) -> Answer:
        name_terms = set(tokenize(retrieval.author or ""))
        topical = any(t not in name_terms for t in query_terms(retrieval.query))
        hits = select_hits(retrieval.hits, retrieval.query, retrieval.author, topical)
        per_paper = 2 if len(hits) == 1 else 1
        sentences = [
            best_sentences(h, retrieval.terms, self.retriever.lexical, topical, per_paper)
            for h in hits
        ]
        citations = tuple(
            _citation(n, h, " ".join(s))
            for n, (h, s) in enumerate(zip(hits, sentences, strict=True), 1)
        )
        text = compose(hits, sentences, retrieval.author)
        return Answer(
            question,
            text,
            citations,
            False,
            "extractive",
            None,
            tuple(hits) + tuple(h for h in retrieval.hits if h not in hits),
            notices=notices,
        )

    def _llm(
        self, question: str, standalone: str, retrieval: Retrieval, backend: str
    ) -> Generator[str, None, Answer]:
        model = self.chat_model(backend)
        s = self.settings
        messages, kept = fit_messages(
            standalone, retrieval.hits, s.llm_context_tokens, s.max_answer_tokens
        )
        hits = retrieval.hits[:kept]
        notices: tuple[str, ...] = ()
        if kept < len(retrieval.hits):
            notices = (
                f"{len(retrieval.hits) - kept} lower-ranked sources left out to fit the "
                f"model's context window ({s.llm_context_tokens} tokens)",
            )
        parts: list[str] = []
        try:
            for delta in model.stream(messages):
                parts.append(delta)
                yield delta
        except LLMUnavailable as exc:
            if not s.llm_fallback:
                raise
            notice = f"LLM endpoint unavailable ({exc}); showing an extractive answer instead."
            answer = self._extractive(question, retrieval, notices=(notice,))
            yield "\n\n" + answer.text
            return answer
        raw = "".join(parts).strip()
        if NOT_COVERED.lower().rstrip(".") in raw.lower():
            return replace(self._abstain(question, retrieval, backend), model=model.name)
        checked = check_citations(raw, len(hits))
        citations = tuple(
            _citation(n, hits[n - 1], " ".join(p.text for p in hits[n - 1].passages[:2]))
            for n in sorted(checked.cited)
        )
        notices += tuple(f"removed citation {r}: no such source" for r in checked.removed)
        return Answer(
            question,
            checked.text,
            citations,
            False,
            backend,
            model.name,
            hits,
            removed_citations=checked.removed,
            notices=notices,
        )


__all__ = ["PaperChat", "Turn", "QuestionError", "LLMError", "validate_question", "Filters"]
