"""Conversation turns and turning a follow-up into a standalone question."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.answer.llm import ChatMessage, ChatModel, LLMError

_FOLLOW_UP = re.compile(
    r"\b(it|its|they|them|their|this|that|these|those|the paper|the method|same|above|more)\b",
    re.IGNORECASE,
)
MAX_STANDALONE_CHARS = 400
REWRITE = (
    "Rewrite the user's last question so it can be understood without the conversation: "
    "replace pronouns and references ('it', 'that paper', 'the method') with what they refer to. "
    "Reply with the rewritten question only, on one line. If it is already standalone, repeat it."
)


@dataclass(frozen=True)
class Turn:
    """One earlier exchange of a conversation."""

    question: str
    answer: str


def condense(question: str, history: Sequence[Turn]) -> str:
    """Make a follow-up standalone by carrying the previous question's topic along."""
    if not history:
        return question
    short = len(question.split()) <= 12
    if short and _FOLLOW_UP.search(question):
        return f"{history[-1].question} {question}"
    return question


def condense_with_llm(chat: ChatModel, question: str, history: Sequence[Turn]) -> str:
    """Ask the LLM for a standalone question; fall back to `condense` if it fails or rambles."""
    lines = []
    for turn in history[-3:]:
        lines += [f"User: {turn.question}", f"Assistant: {turn.answer[:400]}"]
    lines.append(f"User (last question): {question}")
    messages = [ChatMessage("system", REWRITE), ChatMessage("user", "\n".join(lines))]
    try:
        rewritten = chat.complete(messages).strip().splitlines()
    except LLMError:
        return condense(question, history)
    first = rewritten[0].strip().strip('"') if rewritten else ""
    if not first or len(first) > MAX_STANDALONE_CHARS:
        return condense(question, history)
    return first
