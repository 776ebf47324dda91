"""Replay recorded model replies through the real pipeline; print what the claim check made of them.

    python -m eval.replies tests/data/replies/*.jsonl

Per model: replies shown as grounded answers, fallbacks (by reason), refusals, abstentions,
claims shown, supported, marked unsupported, and unsupported shown unmarked (must be 0).
Replies come from `python -m lab.record_replies` against a real endpoint.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

from eval.harness import unmarked_unsupported
from rag import ChatMessage, Library, Settings


class Replay:
    """A chat model that replies with fixed text, streamed in word-sized pieces."""

    def __init__(self, reply: str, name: str = "replay") -> None:
        self.reply, self.name = reply, name

    def stream(self, messages: Sequence[ChatMessage]) -> Iterator[str]:
        yield from re.findall(r"\S+\s*|\s+", self.reply)

    def complete(self, messages: Sequence[ChatMessage]) -> str:
        return self.reply


def main(paths: list[str]) -> None:
    base = Library(Settings(backend="openai", openai_base_url="http://127.0.0.1:9/v1")).open()
    stats: dict[str, Counter[str]] = defaultdict(Counter)
    for path in paths:
        for line in Path(path).read_text("utf-8").splitlines():
            row = json.loads(line)
            base._chat = Replay(row["reply"], row["model"])  # type: ignore[assignment]
            answer = base.ask(row["question"])
            s = stats[row["model"]]
            s["replies"] += 1
            if answer.abstained:
                s["abstained"] += 1
            elif answer.fallback == "the model declined to answer":
                s["refusal + extractive"] += 1
            elif answer.fallback:
                s["fallback: " + answer.fallback.split(" (")[0]] += 1
            else:
                s["shown as grounded answer"] += 1
                s["claims shown"] += len(answer.claims)
                s["claims supported"] += sum(c.supported for c in answer.claims)
                s["claims marked unsupported"] += answer.unsupported_claims
                s["unsupported shown unmarked"] += unmarked_unsupported(answer)
    for model, s in stats.items():
        print(f"## {model}")
        for key, value in sorted(s.items()):
            print(f"  {key}: {value}")


if __name__ == "__main__":
    main(sys.argv[1:])
