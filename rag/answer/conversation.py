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
# A name the question gives itself: an acronym or a mixed-case name (PISA, ReCUT, GSM8K).
_NAME = re.compile(r"\b[A-Za-z]*[A-Z][A-Za-z]*[A-Z0-9][\w-]*")
_ENDS_REFERRING = re.compile(r"\b(?:it|them|this|that|these|those)\W*$", re.IGNORECASE)
FOLLOW_UP_WORDS = 12
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


def is_follow_up(question: str) -> bool:
    """Tell whether a question leans on the conversation: short, with a word that refers back
    ("and its limitations?", "which of them uses RL?", "how does TokenSkip compare to it?").

    A word that comes after a name the question gives ("What is PISA and what was it evaluated
    on?") refers to that name, unless it ends the question. A longer question is taken as is.
    """
    refers = _FOLLOW_UP.search(question)
    if refers is None or len(question.split()) > FOLLOW_UP_WORDS:
        return False
    name = _NAME.search(question)
    return name is None or refers.start() < name.start() or bool(_ENDS_REFERRING.search(question))


def condense(question: str, history: Sequence[Turn]) -> str:
    """Make a follow-up standalone by carrying the previous question's topic along."""
    if history and is_follow_up(question):
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
