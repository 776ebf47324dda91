"""Retrieval and abstention figures on a question set: `python -m eval.retrieval`.

A thin compatibility layer over `eval.harness` (retrieval only, no answers; `paperchat eval`
is the full harness). recall@k is capped: the share of a question's gold papers in the top k,
out of min(len(gold), k), so a question with ten gold papers can still score 1.0 at k=5.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eval.harness import QUESTIONS, Question, load_questions, retrieve
from eval.metrics import abstention, matches

if TYPE_CHECKING:
    from rag import PaperChat

__all__ = ["QUESTIONS", "Question", "evaluate", "load_questions", "main", "matches"]


def evaluate(
    session: PaperChat, questions: Sequence[Question], mode: str = "hybrid", k: int = 5
) -> dict[str, Any]:
    """Compute recall@5, MRR@10 and abstention precision/recall, overall and per type."""
    per_type: dict[str, list[tuple[float, float]]] = defaultdict(list)
    pairs = []
    for q in questions:
        r = retrieve(session, q, k, mode)
        pairs.append((not q.answerable, r.abstained))
        if q.answerable and r.recall is not None and r.mrr is not None:
            per_type[q.type].append((r.recall, r.mrr))
            per_type["all"].append((r.recall, r.mrr))
    figures: dict[str, Any] = {
        t: {
            "n": len(v),
            f"recall@{k}": sum(r for r, _ in v) / len(v),
            "mrr@10": sum(m for _, m in v) / len(v),
        }
        for t, v in per_type.items()
    }
    a = abstention(pairs)
    figures["abstention"] = {
        "precision": 1.0 if a.precision is None else a.precision,
        "recall": 1.0 if a.recall is None else a.recall,
        "tp": a.tp,
        "fp": a.fp,
        "fn": a.fn,
    }
    return figures


def main() -> None:
    """Print retrieval figures for BM25 alone, dense alone and the hybrid retriever."""
    from rag import Library, Settings

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    args = parser.parse_args()
    session = Library(Settings()).open()
    questions = load_questions(args.questions)
    print(f"{'retriever':<10} {'recall@5':>9} {'MRR@10':>7}  abstention P/R")
    for mode in ("lexical", "dense", "hybrid"):
        f = evaluate(session, questions, mode)
        a = f["abstention"]
        print(
            f"{mode:<10} {f['all']['recall@5']:>9.3f} {f['all']['mrr@10']:>7.3f}  "
            f"{a['precision']:.2f}/{a['recall']:.2f}"
        )


if __name__ == "__main__":
    main()
