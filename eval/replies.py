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
from typing import Any

from eval.harness import unmarked_unsupported
from rag import ChatMessage, Library, Settings


class Replay:
    """A chat model that replies with fixed text, streamed in word-sized pieces.

    `structured`: it takes a JSON schema, as an endpoint with response_format does (the reply
    is then the JSON the model wrote).
    """

    def __init__(self, reply: str, name: str = "replay", structured: bool = False) -> None:
        self.reply, self.name, self.structured = reply, name, structured

    def stream(
        self, messages: Sequence[ChatMessage], schema: dict[str, Any] | None = None
    ) -> Iterator[str]:
        return iter(re.findall(r"\S+\s*|\s+", self.reply))

    def complete(self, messages: Sequence[ChatMessage]) -> str:
        return self.reply


def main(paths: list[str]) -> None:
    base = Library(Settings(backend="openai", openai_base_url="http://127.0.0.1:9/v1")).open()
    stats: dict[str, Counter[str]] = defaultdict(Counter)
    for path in paths:
        for line in Path(path).read_text("utf-8").splitlines():
            row = json.loads(line)
            base._chat = Replay(  # type: ignore[assignment]
                row["reply"], row["model"], bool(row.get("structured"))
            )
            base.settings = base.settings.model_copy(
                update={"llm_evidence": row.get("evidence", "abstracts")}
            )
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
