"""Sentence-aware chunking that never exceeds the embedder's input length."""

from __future__ import annotations

from collections.abc import Callable

from rag.records import Chunk, Paper
from rag.text import split_sentences

CHUNKER_VERSION = "sentences-v1"
MAX_TITLE_TOKENS = 48


def _pieces(sentence: str, budget: int, count: Callable[[str], int]) -> list[str]:
    """Cut a sentence longer than the budget at word boundaries."""
    if count(sentence) <= budget:
        return [sentence]
    words, out, current = sentence.split(), [], ""
    for word in words:
        trial = f"{current} {word}".strip()
        if current and count(trial) > budget:
            out.append(current)
            current = word
        else:
            current = trial
    return out + ([current] if current else [])


def _pack(sentences: list[str], budget: int, count: Callable[[str], int]) -> list[str]:
    """Pack sentences greedily, then even the chunk sizes out."""
    units = [p for s in sentences for p in _pieces(s, budget, count)]
    total = sum(count(u) for u in units)
    n_chunks = max(1, -(-total // budget))
    target = -(-total // n_chunks)
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for unit in units:
        n = count(unit)
        if current and (size + n > budget or (size >= target and len(chunks) < n_chunks - 1)):
            chunks.append(" ".join(current))
            current, size = [], 0
        current.append(unit)
        size += n
    if current:
        chunks.append(" ".join(current))
    return chunks


def chunk_paper(paper: Paper, max_tokens: int, count: Callable[[str], int]) -> list[Chunk]:
    """Split an abstract into chunks that each fit `max_tokens` with the title prepended."""
    title = paper.title
    if count(title) > MAX_TITLE_TOKENS:
        title = " ".join(title.split()[:24])
    budget = max(16, max_tokens - count(title) - 1)
    authors = ", ".join(paper.authors)
    chunks = []
    for i, text in enumerate(_pack(split_sentences(paper.abstract), budget, count)):
        chunks.append(
            Chunk(
                id=f"{paper.id}:{i}",
                paper_id=paper.id,
                index=i,
                text=text,
                dense_text=f"{title}. {text}",
                lexical_text=f"{paper.title}. {authors}. {text}",
            )
        )
    return chunks
