"""What an answer backend is given and may use: the job, the session's helpers, citations.

A backend is a function `answer(chat: Answering, job: Job) -> Generator[str, None, Answer]`:
it yields the answer text as it is written and returns the finished Answer, every claim put
through `chat.checker` (the claim check). Register it in `rag.registry`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Protocol

from rag.records import Citation, Hit
from rag.registry import REGISTRY

if TYPE_CHECKING:
    from rag.answer.extractive import Extractor
    from rag.answer.grounding import ClaimChecker
    from rag.answer.llm import ChatModel
    from rag.config import Settings
    from rag.records import Answer
    from rag.retrieval.retrieve import Retrieval


@dataclass(frozen=True)
class Job:
    """One question to answer, retrieved and known to be covered."""

    question: str  # as asked (what the Answer records)
    standalone: str  # the question with the conversation folded in (what to answer)
    retrieval: Retrieval
    start: float  # time.perf_counter() when the question arrived


class Answering(Protocol):
    """The session's parts and helpers a backend may use (`rag.pipeline.PaperChat`)."""

    settings: Settings
    extractor: Extractor
    checker: ClaimChecker

    def chat_model(self) -> ChatModel:
        """The configured chat model, built on first use."""
        ...

    def answer_hits(self, retrieval: Retrieval) -> tuple[Hit, ...]:
        """The papers an answer draws on: those close enough to the best one."""
        ...

    def extractive(
        self, question: str, retrieval: Retrieval, notices: tuple[str, ...] = ()
    ) -> Answer:
        """The extractive answer."""
        ...

    def fallback(self, question: str, retrieval: Retrieval, reason: str) -> Answer:
        """The extractive answer in place of a reply that cannot be shown, with the reason."""
        ...

    def refused(self, question: str, retrieval: Retrieval, raw: str, model: str) -> Answer:
        """A model's refusal: an abstention, or the extractive answer under it."""
        ...


Backend = Callable[[Answering, Job], Generator[str, None, "Answer"]]


def load(name: str) -> Backend:
    """The backend registered under `name`."""
    module, _, function = REGISTRY[name].partition(":")
    backend: Backend = getattr(import_module(module), function)
    return backend


def citation(n: int, hit: Hit, passage: str) -> Citation:
    """Citation number n of an answer: the paper of `hit`, with the passage shown for it."""
    p = hit.paper
    return Citation(
        n=n,
        paper_id=p.id,
        title=p.title,
        authors=p.authors,
        year=p.year,
        source=p.source_names[0] if p.source_names else "",
        passage=passage,
    )
