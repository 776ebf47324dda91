"""The retrieval quality bar on the development question set (issue: core pipeline)."""

from __future__ import annotations

import pytest

from eval.retrieval import evaluate, load_questions
from rag.pipeline import PaperChat


@pytest.mark.slow
def test_hybrid_retrieval_meets_the_bar(seed_session: PaperChat) -> None:
    figures = evaluate(seed_session, load_questions())
    assert figures["all"]["n"] >= 30
    assert figures["all"]["recall@5"] >= 0.95
    assert figures["all"]["mrr@10"] >= 0.92
    assert figures["author"]["recall@5"] == 1.0
