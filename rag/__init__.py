"""paperchat: retrieval-augmented Q&A over research-paper abstracts.

The public API is small and imports nothing heavy until used:

    from rag import Library, Settings, ask, search
    answer = ask("which papers shorten chain-of-thought?", Settings())
    library = Library(Settings())  # one door to an index: ask, stream, search, papers, ingest

The shells (`ui/`, `eval/`) import from here only (tests/test_structure.py checks it). Names
below `Library` are loaded on first use (PEP 562), so `import rag` stays cheap.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from typing import TYPE_CHECKING, Any

from rag.config import BACKENDS, Settings
from rag.errors import PaperchatError, one_line
from rag.library import IndexBusy, IndexStats, Libraries, Library

if TYPE_CHECKING:
    from rag.answer import compare, references
    from rag.answer.conversation import Turn
    from rag.answer.grounding import UNSUPPORTED_MARK
    from rag.answer.llm import ChatMessage, ChatModel, LLMError
    from rag.answer.prompt import is_refusal
    from rag.corpus.chunking import chunk_paper
    from rag.corpus.loaders import SUFFIXES, load_paths
    from rag.embed import Embedder, make_embedder
    from rag.index import collections
    from rag.index.store import collection_names
    from rag.index.writer import IngestProgress, IngestReport
    from rag.paths import LEGACY_DATA_DIR, seeds_dir
    from rag.pipeline import MAX_QUESTION_CHARS, PaperChat, QuestionError
    from rag.records import Answer, Citation, Claim, Hit, Paper
    from rag.retrieval.retrieve import Filters, Retrieval, Retriever
    from rag.text import author_list, split_sentences

# name -> the module that defines it (a module's own name: that module), imported on first use
_LAZY = {
    "collections": "rag.index.collections",
    "collection_names": "rag.index.store",
    "seeds_dir": "rag.paths",
    "LEGACY_DATA_DIR": "rag.paths",
    "QuestionError": "rag.pipeline",
    "MAX_QUESTION_CHARS": "rag.pipeline",
    "compare": "rag.answer.compare",
    "references": "rag.answer.references",
    "Turn": "rag.answer.conversation",
    "UNSUPPORTED_MARK": "rag.answer.grounding",
    "ChatMessage": "rag.answer.llm",
    "ChatModel": "rag.answer.llm",
    "LLMError": "rag.answer.llm",
    "is_refusal": "rag.answer.prompt",
    "chunk_paper": "rag.corpus.chunking",
    "SUFFIXES": "rag.corpus.loaders",
    "load_paths": "rag.corpus.loaders",
    "Embedder": "rag.embed",
    "make_embedder": "rag.embed",
    "IngestProgress": "rag.index.writer",
    "IngestReport": "rag.index.writer",
    "PaperChat": "rag.pipeline",
    "Answer": "rag.records",
    "Citation": "rag.records",
    "Claim": "rag.records",
    "Hit": "rag.records",
    "Paper": "rag.records",
    "Filters": "rag.retrieval.retrieve",
    "Retrieval": "rag.retrieval.retrieve",
    "Retriever": "rag.retrieval.retrieve",
    "author_list": "rag.text",
    "split_sentences": "rag.text",
}

__all__ = [
    "LEGACY_DATA_DIR",
    "MAX_QUESTION_CHARS",
    "QuestionError",
    "collection_names",
    "collections",
    "seeds_dir",
    "BACKENDS",
    "SUFFIXES",
    "UNSUPPORTED_MARK",
    "Answer",
    "ChatMessage",
    "ChatModel",
    "Citation",
    "Claim",
    "Embedder",
    "Filters",
    "Hit",
    "IndexBusy",
    "IndexStats",
    "IngestProgress",
    "IngestReport",
    "LLMError",
    "Libraries",
    "Library",
    "Paper",
    "PaperChat",
    "PaperchatError",
    "Retrieval",
    "Retriever",
    "Settings",
    "Turn",
    "ask",
    "author_list",
    "chunk_paper",
    "compare",
    "is_refusal",
    "load_paths",
    "make_embedder",
    "one_line",
    "references",
    "search",
    "session",
    "split_sentences",
]


def __getattr__(name: str) -> Any:
    """Load a public name's module on first use."""
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'rag' has no attribute {name!r}")
    module = importlib.import_module(where)
    value = module if where.rpartition(".")[2] == name else getattr(module, name)
    globals()[name] = value
    return value


_LIBRARIES: dict[str, Library] = {}


def _key(settings: Settings) -> str:
    """Identify settings by value, secrets included (as a digest), for reusing libraries."""
    data = settings.model_dump(mode="json")
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    data["openai_api_key"] = hashlib.sha256(key.encode()).hexdigest()
    return json.dumps(data, sort_keys=True, default=str)


def session(settings: Settings) -> Library:
    """Return the Library for these settings, reused across calls with equal settings."""
    key = _key(settings)
    if key not in _LIBRARIES:
        _LIBRARIES[key] = Library(settings)
    return _LIBRARIES[key]


def ask(question: str, settings: Settings, **options: Any) -> Answer:
    """Answer a question with citations; options as in `Library.stream`."""
    return session(settings).ask(question, **options)


def search(query: str, settings: Settings, **options: Any) -> Retrieval:
    """Rank papers for a query; options as in `Library.search`."""
    return session(settings).search(query, **options)
