"""How good the evidence a model is given is, on its own: the bound on every LLM answer.

For each answerable dev question: the papers an answer draws on, the evidence chosen from
them (`rag.answer.evidence.choose_evidence`), and three figures over the set:
evidence recall (share of the answer facts found in the evidence text), the multi-paper
questions' paper recall (share of their gold papers that give evidence) and the prompt size
(characters / 3.5, p50). Each `--schedule` is sentences per paper rank, then the units
kept (the first ones of the round-robin).

    python -m lab.evidence_recall --schedule 10,4,3,2,2/10 --schedule 10,4,3,2,2/6
"""

from __future__ import annotations

import argparse
import statistics

from eval.harness import load_questions
from eval.metrics import is_gold, norm
from rag import Library, Settings
from rag.answer.evidence import PER_RANK, choose_evidence
from rag.answer.generate import build_messages


def measure(chat, per_rank: tuple[int, ...], max_units: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Evidence recall, multi-paper paper recall and prompt tokens for one schedule."""
    facts = found = golds = given = 0
    tokens = []
    for q in (q for q in load_questions() if q.answerable):
        hits = chat.answer_hits(chat.search(q.question))
        evidence = choose_evidence(chat.extractor, hits, q.question, max_units, per_rank)
        text = norm(" ".join(e.text for e in evidence)).casefold()
        facts += len(q.answer_facts)
        found += sum(norm(f).casefold() in text for f in q.answer_facts)
        if q.type == "multi":
            papers = [hits[s - 1].paper for s in {e.source for e in evidence}]
            golds += len(q.gold)
            given += sum(any(is_gold(p, [g]) for p in papers) for g in q.gold)
        messages = build_messages(q.question, evidence, structured=False)
        tokens.append(sum(len(m.content) for m in messages) / 3.5)
    return {
        "evidence_recall": found / facts,
        "multi_paper_recall": given / max(golds, 1),
        "prompt_tokens_p50": statistics.median(tokens),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    units = Settings().llm_evidence_units
    default = ",".join(map(str, PER_RANK)) + f"/{units}"
    parser.add_argument("--schedule", action="append", help=f"e.g. {default} (the shipped one)")
    args = parser.parse_args()
    chat = Library(Settings()).open()
    for schedule in args.schedule or [default]:
        ranks, _, cap = schedule.partition("/")
        figures = measure(chat, tuple(int(x) for x in ranks.split(",")), int(cap or units))
        shown = ", ".join(f"{k} {v:.3f}" if v < 10 else f"{k} {v:.0f}" for k, v in figures.items())
        print(f"{schedule}: {shown}")


if __name__ == "__main__":
    main()
