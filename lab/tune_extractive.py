"""Grid-search the extractive answerer's weights on the dev set; print the figures per setting.

    python -m lab.tune_extractive [--stage papers|sentences]

Stage "papers" varies which papers an answer keeps, "sentences" how sentences are scored
(the other weights stay at their defaults). Retrieval runs once per question; each setting
then re-chooses sentences and is scored with the harness's own answer metrics (fact coverage
overall and on multi-paper questions, citation precision). Dev set only: the held-out sets
are never read here.
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import replace

from eval import metrics as m
from eval.harness import load_questions, score_answer
from rag.answer.extractive import Extractor, Weights
from rag.config import Settings
from rag.pipeline import PaperChat


def _figures(session: PaperChat, cases: list) -> dict[str, float]:
    rows = []
    for q, retrieval in cases:
        answer = session.extractive(q.question, retrieval)
        rows.append((q, score_answer(answer, q, session.settings.top_k)))
    multi = [r for q, r in rows if q.type == "multi"]
    return {
        "facts": m.mean(r.fact_coverage for _, r in rows) or 0.0,
        "facts_multi": m.mean(r.fact_coverage for r in multi) or 0.0,
        "cit_p": m.mean(r.citation_precision for _, r in rows) or 0.0,
    }


STAGES = {
    "papers": ("single_cutoff", "list_cutoff", "list_relative"),
    "sentences": ("overlap", "contribution", "background"),
}


def main() -> None:
    session = PaperChat(Settings())
    session.warm()
    questions = [q for q in load_questions() if q.answerable]
    cases = []
    for q in questions:
        retrieval = session.retriever.search(q.question, session.settings.top_k)
        if session.covers(retrieval):
            cases.append((q, retrieval))
    base = Weights()
    grid = {
        "single_cutoff": (0.85, 0.92, 1.0),
        "list_cutoff": (0.5, 0.6, 0.7),
        "overlap": (0.2, 0.35, 0.6),
        "contribution": (0.0, 0.08, 0.15),
        "background": (0.0, 0.15, 0.3),
        "min_relevance": (0.2, 0.3, 0.4),
        "list_relative": (0.5, 0.7, 0.85),
    }
    stage = sys.argv[sys.argv.index("--stage") + 1] if "--stage" in sys.argv else "papers"
    keep = STAGES[stage]
    grid = {k: v for k, v in grid.items() if k in keep}
    print(f"{len(cases)} covered answerable dev questions")
    results = []
    for values in itertools.product(*grid.values()):
        w = replace(base, **dict(zip(grid, values, strict=True)))
        session.extractor = Extractor(session.sentences, session._idf, w)
        f = _figures(session, cases)
        results.append((f, w))
        print(
            f"facts {f['facts']:.3f} multi {f['facts_multi']:.3f} citP {f['cit_p']:.3f}  "
            + " ".join(f"{k}={getattr(w, k)}" for k in grid),
            flush=True,
        )
    ok = [(f, w) for f, w in results if f["cit_p"] >= 0.95]
    best = max(ok or results, key=lambda r: r[0]["facts"] + r[0]["facts_multi"])
    print("best:", best)


if __name__ == "__main__":
    main()
