"""Retrieval and abstention figures on a question set: `python -m eval.retrieval`.

recall@k is capped: the share of a question's gold papers in the top k, out of
min(len(gold), k), so a question with ten gold papers can still score 1.0 at k=5.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.pipeline import PaperChat
from rag.records import Paper

QUESTIONS = Path(__file__).parent / "questions.jsonl"


@dataclass(frozen=True)
class Question:
    """One evaluation question."""

    qid: str
    question: str
    type: str
    gold: tuple[str, ...]


def load_questions(path: Path = QUESTIONS) -> list[Question]:
    """Read a JSONL question set (unknown fields ignored)."""
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    return [Question(r["qid"], r["question"], r["type"], tuple(r.get("gold") or ())) for r in rows]


def _norm(text: str) -> str:
    return " ".join(text.split())


def matches(gold: str, paper: Paper) -> bool:
    """Tell whether a gold entry names this paper (id, exact title, or 40+ char abstract prefix)."""
    return gold in (paper.id, paper.title) or (
        len(gold) >= 40 and _norm(paper.abstract).startswith(_norm(gold))
    )


def evaluate(
    session: PaperChat, questions: Sequence[Question], mode: str = "hybrid"
) -> dict[str, Any]:
    """Compute recall@5, MRR@10 and abstention precision/recall, overall and per type."""
    per_type: dict[str, list[tuple[float, float]]] = defaultdict(list)
    abstain = {"tp": 0, "fp": 0, "fn": 0}
    for q in questions:
        result = session.retriever.search(q.question, 10, mode=mode)  # type: ignore[arg-type]
        abstained = result.relevance < session.settings.min_relevance and not result.author
        if not q.gold:
            abstain["tp" if abstained else "fn"] += 1
            continue
        abstain["fp"] += abstained
        ranks = [i for i, h in enumerate(result.hits) if any(matches(g, h.paper) for g in q.gold)]
        recall = sum(r < 5 for r in ranks) / min(len(q.gold), 5)
        mrr = 1 / (ranks[0] + 1) if ranks else 0.0
        per_type[q.type].append((recall, mrr))
        per_type["all"].append((recall, mrr))
    figures: dict[str, Any] = {
        t: {
            "n": len(v),
            "recall@5": sum(r for r, _ in v) / len(v),
            "mrr@10": sum(m for _, m in v) / len(v),
        }
        for t, v in per_type.items()
    }
    flagged = abstain["tp"] + abstain["fp"]
    figures["abstention"] = {
        "precision": abstain["tp"] / flagged if flagged else 1.0,
        "recall": abstain["tp"] / (abstain["tp"] + abstain["fn"])
        if abstain["tp"] + abstain["fn"]
        else 1.0,
        **abstain,
    }
    return figures


def main() -> None:
    """Print retrieval figures for BM25 alone, dense alone and the hybrid retriever."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    args = parser.parse_args()
    session = PaperChat(Settings())
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
