"""The public pipeline: retrieve, answer with an LLM or extractively, check citations."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import replace

from rag.answer.backends import Job, citation
from rag.answer.backends import load as load_backend
from rag.answer.backends.model import REFUSAL_MARGIN
from rag.answer.conversation import Turn, condense, condense_with_llm, is_follow_up
from rag.answer.extractive import Extractor, compose
from rag.answer.grounding import ClaimChecker
from rag.answer.llm import FORMS_FOR, ChatModel, LLMError, OpenAIChat
from rag.answer.sentences import SentenceBank
from rag.config import Settings
from rag.embed import Embedder, make_embedder
from rag.errors import PaperchatError
from rag.index.catalog import ReadProgress
from rag.index.lexical import query_terms, tokenize
from rag.records import Answer, Hit
from rag.registry import NEEDS_ENDPOINT
from rag.retrieval.retrieve import Filters, Mode, Retrieval, Retriever

MAX_QUESTION_CHARS = 2000


class QuestionError(PaperchatError):
    """The question cannot be asked as given."""


def validate_question(question: str) -> str:
    """Return the cleaned question or raise QuestionError with one clear line.

    Control and invisible format characters (bidi overrides, zero-width spaces) become spaces;
    right-to-left scripts, accents and emoji are kept. A question needs a letter or a digit.
    """
    cleaned = _visible(question or "")
    if not cleaned:
        raise QuestionError("the question is empty")
    if len(cleaned) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"the question is too long ({len(cleaned)} characters;"
            f" the limit is {MAX_QUESTION_CHARS})"
        )
    if not any(unicodedata.category(c)[0] in "LN" for c in cleaned):
        raise QuestionError(
            "the question has no words (only punctuation, symbols or emoji); ask it in words"
        )
    return cleaned


def _visible(text: str) -> str:
    """NFC text with control, format (bar joiners) and surrogate characters as single spaces."""
    text = unicodedata.normalize("NFC", text)
    kept = (
        " "
        if unicodedata.category(c) in ("Cc", "Cs", "Co")
        or (unicodedata.category(c) == "Cf" and c not in "\u200c\u200d")
        else c
        for c in text
    )
    return " ".join("".join(kept).split())


WARM_PAPERS = 2000  # ~2-3 min of sentence embedding on 2 cores; beyond it, embed on first use


class PaperChat:
    """A loaded index ready to answer: build once, ask many times."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        chat: ChatModel | None = None,
        progress: ReadProgress | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder or make_embedder(
            settings.embed_model, settings.embed_batch_size, settings
        )
        self.retriever = Retriever(settings, self.embedder, progress)
        self.sentences = SentenceBank(self.embedder)
        self.extractor = Extractor(self.sentences, self._idf)
        self.checker = ClaimChecker(self.sentences, self._idf)
        self._chat = chat

    def warm(self) -> int:
        """Load the embedder and index; embed every paper's sentences up front when the
        collection is small (≤ WARM_PAPERS); return how many papers were embedded.

        After this, answers pay no first-use cost (`paperchat serve` calls it at start-up);
        a larger collection embeds a paper's sentences the first time it is retrieved.
        """
        self.retriever.search("warm-up", 1)
        papers = self.retriever.papers
        return self.sentences.prefill(papers) if len(papers) <= WARM_PAPERS else 0

    def _idf(self, term: str) -> float:
        lexical = self.retriever.lexical
        return lexical.idf.get(term, lexical.max_idf)

    def chat_model(self) -> ChatModel:
        """Return the LLM client, built on first use."""
        if self._chat is None:
            s = self.settings
            key = s.openai_api_key.get_secret_value() if s.openai_api_key else None
            self._chat = OpenAIChat(
                s.openai_model,
                key,
                s.openai_base_url,
                temperature=s.temperature,
                max_tokens=s.max_answer_tokens,
                timeout=s.request_timeout,
                forms=FORMS_FOR[s.structured_output],
            )
        return self._chat

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
        """Yield the answer text as it is written, then the finished, checked Answer record.

        The streamed text is the model's draft; the Answer's text is what the claim check made
        of it (citations added, corrected or removed, unsupported claims marked, or a fallback).
        """
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
        else:
            job = Job(question, standalone, retrieval, start)
            answer = yield from load_backend(name)(self, job)
        timings.update(answer.timings)
        timings["generation_ms"] = (time.perf_counter() - t_retrieved) * 1000
        timings["total_ms"] = (time.perf_counter() - start) * 1000
        yield replace(answer, timings={k: round(v, 1) for k, v in timings.items()})

    def _standalone(self, question: str, history: Sequence[Turn], backend: str) -> str:
        """Rewrite a follow-up as a standalone question: by the LLM when one answers.

        Only a question that looks like a follow-up is rewritten: a rewrite is a whole model
        call before retrieval (~2-5 s on a small local model, measured in the web UI, where
        every question after the first has a history), and a small model can garble a question
        that needed no rewrite.
        """
        if history and backend in NEEDS_ENDPOINT and is_follow_up(question):
            return condense_with_llm(self.chat_model(), question, history)
        return condense(question, history)  # itself leaves a question that is no follow-up

    def covers(self, retrieval: Retrieval, filters: Filters | None = None) -> bool:
        """Decide whether the evidence covers the question (an author in scope always does)."""
        if not retrieval.hits:
            return False
        if retrieval.author:
            return True
        if filters and filters.author and not query_terms(retrieval.query):
            return True  # "what has this author worked on?" with an author filter set
        return retrieval.relevance >= self.settings.min_relevance

    def _abstain(self, question: str, retrieval: Retrieval, backend: str) -> Answer:
        closest = "; ".join(f"“{h.paper.title}”" for h in retrieval.hits[:3])
        text = "The collection does not cover this question."
        if closest:
            text += f" The closest papers are {closest}."
        return Answer(
            question=question,
            text=text,
            citations=(),
            abstained=True,
            backend=backend,
            model=None,
            hits=retrieval.hits,
        )

    def _topical(self, retrieval: Retrieval) -> bool:
        """Tell whether the question asks about more than an author's name."""
        name_terms = set(tokenize(retrieval.author or ""))
        return any(t not in name_terms for t in query_terms(retrieval.query))

    def answer_hits(self, retrieval: Retrieval) -> tuple[Hit, ...]:
        """The papers an answer draws on: those close enough to the best one (both backends)."""
        return tuple(
            self.extractor.select_hits(
                retrieval.hits, retrieval.query, retrieval.author, self._topical(retrieval)
            )
        )

    def extractive(
        self, question: str, retrieval: Retrieval, notices: tuple[str, ...] = ()
    ) -> Answer:
        """The extractive answer: each chosen paper's best sentences, cited and checked."""
        topical = self._topical(retrieval)
        hits = self.answer_hits(retrieval)
        per_paper = 2 if len(hits) == 1 else 1
        choices = self.extractor.choose(hits, retrieval.query, topical, per_paper)
        if topical and not retrieval.author:  # an author's papers are the answer themselves
            choices = self.extractor.keep_relevant(choices)
        chosen = [c.hit for c in choices]
        grounded = self.checker.check(compose(choices, retrieval.author), chosen)
        citations = tuple(
            citation(n, c.hit, " ".join(c.sentences)) for n, c in enumerate(choices, 1)
        )
        return Answer(
            question=question,
            text=grounded.text,
            citations=citations,
            abstained=False,
            backend="extractive",
            model=None,
            hits=tuple(chosen) + tuple(h for h in retrieval.hits if h not in chosen),
            notices=notices,
            claims=grounded.claims,
        )

    def fallback(self, question: str, retrieval: Retrieval, reason: str) -> Answer:
        """The extractive answer in place of a model reply that cannot be shown."""
        notice = f"{reason}; showing an extractive answer instead."
        answer = self.extractive(question, retrieval, notices=(notice,))
        return replace(answer, fallback=reason)

    def refused(self, question: str, retrieval: Retrieval, raw: str, model: str) -> Answer:
        """Show a refusal, with the extractive answer under it when the evidence is strong."""
        if retrieval.relevance < self.settings.min_relevance + REFUSAL_MARGIN:
            return replace(
                self._abstain(question, retrieval, "openai"), model=model, model_reply=raw
            )
        extractive = self.extractive(question, retrieval)
        text = f"The model found no answer in the sources.\n\nExtractive answer:\n{extractive.text}"
        return replace(
            extractive,
            text=text,
            backend="openai",
            model=model,
            model_reply=raw,
            fallback="the model declined to answer",
            notices=(
                "the model declined to answer, but the retrieved papers match the question "
                "closely; the extractive answer from them is shown under the refusal",
            ),
        )


__all__ = ["PaperChat", "Turn", "QuestionError", "LLMError", "validate_question", "Filters"]
