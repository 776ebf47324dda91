"""The extractive backend: no model; the answer is the abstracts' own sentences, cited.

The sentence choice is `rag.answer.extractive`; the session composes and checks it
(`PaperChat.extractive`), the same answer every fallback shows.
"""

from __future__ import annotations

from collections.abc import Generator

from rag.answer.backends import Answering, Job
from rag.records import Answer


def answer(chat: Answering, job: Job) -> Generator[str, None, Answer]:
    """Yield the extractive answer's text once and return it."""
    result = chat.extractive(job.question, job.retrieval)
    yield result.text
    return result
