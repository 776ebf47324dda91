"""paperchat: retrieval-augmented Q&A over research-paper abstracts.

The public API is small and imports nothing heavy until used:

    from rag import Settings, ask, search
    answer = ask("which papers shorten chain-of-thought?", Settings())
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from rag.config import Settings

if TYPE_CHECKING:
    from rag.pipeline import PaperChat
    from rag.records import Answer
    from rag.retrieval.retrieve import Retrieval

__all__ = ["Settings", "ask", "search", "session"]


_SESSIONS: dict[str, PaperChat] = {}


def _key(settings: Settings) -> str:
    """Identify settings by value, secrets included (as a digest), for reusing sessions."""
    data = settings.model_dump(mode="json")
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    data["openai_api_key"] = hashlib.sha256(key.encode()).hexdigest()
    return json.dumps(data, sort_keys=True, default=str)


def session(settings: Settings) -> PaperChat:
    """Return a loaded PaperChat for these settings, reused across calls with equal settings."""
    from rag.pipeline import PaperChat

    key = _key(settings)
    if key not in _SESSIONS:
        _SESSIONS[key] = PaperChat(settings)
    return _SESSIONS[key]


def ask(question: str, settings: Settings, **options: Any) -> Answer:
    """Answer a question with citations; options as in `PaperChat.stream`."""
    return session(settings).ask(question, **options)


def search(query: str, settings: Settings, **options: Any) -> Retrieval:
    """Rank papers for a query; options as in `PaperChat.search`."""
    return session(settings).search(query, **options)
