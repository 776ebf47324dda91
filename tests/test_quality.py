"""The quality gate on the development question set (extractive backend, seed index).

Fails CI when recall@5 < 0.95, citation precision < 0.95, fact coverage < 0.45 or abstention
precision < 0.85, or when any unsupported claim is shown without its mark. Abstention recall
is reported by `paperchat eval`, not gated (see docs/grounding.md).
"""

from __future__ import annotations

import pytest

from eval.harness import gate_failures, load_questions, run_eval
from eval.retrieval import evaluate
from eval.retrieval import load_questions as load_retrieval_questions
from rag.pipeline import PaperChat


@pytest.mark.slow
def test_hybrid_retrieval_meets_the_bar(seed_session: PaperChat) -> None:
    figures = evaluate(seed_session, load_retrieval_questions())
    assert figures["all"]["n"] >= 30
    assert figures["all"]["recall@5"] >= 0.95
    assert figures["all"]["mrr@10"] >= 0.92
    assert figures["author"]["recall@5"] == 1.0


@pytest.mark.slow
def test_dev_set_quality_gate(seed_session: PaperChat) -> None:
    run = run_eval(seed_session, load_questions(), backend="extractive")
    assert gate_failures(run.summary) == {}
    answers = run.summary["answers"]["all"]
    assert answers["unmarked_unsupported"] == 0
    assert answers["claims"] > 100 and answers["claim_support"] == 1.0
