"""How a paper is stored in the collection: the metadata every one of its chunks carries."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rag.records import Paper

MAX_VALUE_BYTES = 4096  # Chroma Cloud's limit on one metadata value (a local store has none)
# The author list's share of it: llama-index also stores every chunk's metadata again, escaped,
# inside its `_node_content` value, so the list gets half and the other fields the rest.
AUTHORS_BYTES = MAX_VALUE_BYTES // 2


def _stored_authors(authors: Sequence[str]) -> list[str]:
    """The authors, only the first ones when the list as JSON exceeds AUTHORS_BYTES."""
    kept: list[str] = []
    size = 2  # the brackets
    for name in authors:
        size += len(json.dumps(name).encode()) + 2  # the name and ", "
        if size > AUTHORS_BYTES:
            break
        kept.append(name)
    return kept


def paper_metadata(paper: Paper, content_hash: str, n_chunks: int) -> dict[str, Any]:
    """Flatten a paper into the metadata every one of its chunks carries.

    An author list longer than AUTHORS_BYTES as JSON (a collaboration of hundreds) keeps its
    first authors, and `n_authors` the full count, so that no value exceeds MAX_VALUE_BYTES.
    """
    authors = _stored_authors(paper.authors)
    cut = len(paper.authors) if len(authors) < len(paper.authors) else 0
    return {
        "paper_id": paper.id,
        "title": paper.title,
        "title_derived": paper.title_derived,
        "authors": json.dumps(authors),
        "year": paper.year if paper.year is not None else -1,
        "date": paper.date or "",
        "url": paper.url or "",
        "n_authors": max(paper.n_authors or 0, cut),
        "upvotes": paper.upvotes if paper.upvotes is not None else -1,
        "sources": json.dumps(paper.sources),
        "content_hash": content_hash,
        "n_chunks": n_chunks,
    }


def paper_from_metadata(meta: dict[str, Any], abstract: str) -> Paper:
    """Rebuild a Paper from chunk metadata."""
    year, upvotes = int(meta.get("year", -1)), int(meta.get("upvotes", -1))
    return Paper(
        id=str(meta["paper_id"]),
        title=str(meta["title"]),
        abstract=abstract,
        authors=tuple(json.loads(str(meta.get("authors") or "[]"))),
        year=year if year >= 0 else None,
        date=str(meta.get("date") or "") or None,
        url=str(meta.get("url") or "") or None,
        title_derived=bool(meta.get("title_derived")),
        n_authors=int(meta.get("n_authors") or 0) or None,
        upvotes=upvotes if upvotes >= 0 else None,
        sources=tuple(json.loads(str(meta.get("sources") or "[]"))),
    )
