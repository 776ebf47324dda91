"""paperchat: retrieval-augmented Q&A over research-paper abstracts.

The public API is small and imports nothing heavy until used:

    from rag import Settings, ask, search
    answer = ask("which papers shorten chain-of-thought?", Settings())
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from rag.config import Settings

if TYPE_CHECKING:
    from rag.pipeline import PaperChat
    from rag.records import Answer
    from rag.retrieve import Retrieval

__all__ = ["Settings", "ask", "search", "session"]


@lru_cache(maxsize=4)
def session(settings: Settings) -> PaperChat:
    """Return a loaded PaperChat for these settings, reused across calls."""
    from rag.pipeline import PaperChat

    return PaperChat(settings)


def ask(question: str, settings: Settings, **options: Any) -> Answer:
    """Answer a question with citations; options as in `PaperChat.stream`."""
    return session(settings).ask(question, **options)


def search(query: str, settings: Settings, **options: Any) -> Retrieval:
    """Rank papers for a query; options as in `PaperChat.search`."""
    return session(settings).search(query, **options)
