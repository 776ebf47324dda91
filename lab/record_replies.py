"""Record a real model's raw replies to dev questions, for calibrating and testing the claim check.

    python -m lab.record_replies --base-url http://127.0.0.1:8080/v1 --model NAME \\
        --out tests/data/replies/NAME.jsonl [--limit 40]
    python -m lab.record_replies --from-eval eval/out/results.json --model NAME --out FILE

The second form takes the raw replies a `paperchat eval` run against a real model kept.

Each line holds the question, the model's raw reply (exactly as streamed) and the source
titles it was given, so a test can replay the reply through the pipeline on the seed index
and check that retrieval still hands it the same sources.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from eval.harness import load_questions
from rag.config import Settings
from rag.pipeline import PaperChat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="OpenAI-compatible endpoint.")
    parser.add_argument(
        "--from-eval", type=Path, help="results.json of a `paperchat eval` run with a model."
    )
    parser.add_argument("--model", required=True, help="Model name the endpoint serves.")
    parser.add_argument("--out", type=Path, required=True, help="JSONL file to write.")
    parser.add_argument(
        "--limit", type=int, default=40, help="Questions to ask (spread over types)."
    )
    parser.add_argument("--start", type=int, default=0, help="Skip this many of them (resume).")
    parser.add_argument(
        "--evidence",
        choices=("sentences", "abstracts"),
        default="sentences",
        help="What the model reads (PAPERCHAT_LLM_EVIDENCE).",
    )
    args = parser.parse_args()
    if args.from_eval:
        _from_eval(args.from_eval, args.model, args.out, args.evidence)
        return
    if not args.base_url:
        parser.error("give --base-url or --from-eval")
    settings = Settings(
        backend="openai",
        openai_base_url=args.base_url,
        openai_model=args.model,
        llm_evidence=args.evidence,
        request_timeout=300,
    )
    session = PaperChat(settings)
    questions = load_questions()
    step = max(1, len(questions) // args.limit)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a" if args.start else "w", encoding="utf-8") as out:
        for q in questions[::step][args.start : args.limit]:
            final = session.ask(q.question)
            row = {
                "qid": q.qid,
                "question": q.question,
                "model": args.model,
                "evidence": settings.llm_evidence,
                "structured": "{" in (final.model_reply or "")[:5],
                "reply": final.model_reply or "",
                "sources": [h.paper.title for h in session.search(q.question).hits],
                "abstained": final.abstained,
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()
            print(q.qid, final.backend, final.fallback or "", flush=True)


def _from_eval(results: Path, model: str, out: Path, evidence: str) -> None:
    """Write the replies of an eval run as recorded-reply rows (sources from the seed index)."""
    session = PaperChat(Settings(backend="extractive"))
    rows = []
    for q in json.loads(results.read_text("utf-8"))["questions"]:
        answer = q.get("answer") or {}
        if not q["gold"] and answer.get("abstained"):
            continue
        reply = answer.get("model_reply")
        if reply is None and not answer.get("abstained"):
            continue
        rows.append(
            {
                "qid": q["qid"],
                "question": q["question"],
                "model": model,
                "evidence": evidence,
                "structured": (reply or "").lstrip().startswith("{"),
                "reply": reply or "",
                "sources": [h.paper.title for h in session.search(q["question"]).hits],
                "abstained": bool(answer.get("abstained")),
            }
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    print(f"{len(rows)} replies written to {out}")


if __name__ == "__main__":
    main()
