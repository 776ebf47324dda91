"""The catalog record, what BM25 indexes of a paper, and a catalog built in memory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.index.catalog.postings import IndexBuilder, PaperIndex
from rag.records import Paper

if TYPE_CHECKING:
    from rag.index.lexical import LexicalIndex


@dataclass(frozen=True)
class Catalog:
    """Every complete paper (sorted by id) with its chunk texts, and their BM25 index."""

    stamp: str | None
    embedder: str
    chunking: str
    stored_chunks: int  # chunks in the collection, half-written papers included
    papers: Sequence[Paper]
    texts: Sequence[list[str]]  # each paper's chunk texts in chunk order
    lexical: LexicalIndex | None  # None when read without it (`papers`, `stats`)
    index: PaperIndex


def in_memory(
    stamp: str | None,
    embedder: str,
    chunking: str,
    stored_chunks: int,
    rows: list[tuple[Paper, list[str]]],
    lexical: LexicalIndex | None,
) -> Catalog:
    """A catalog of papers held in memory (sorted here by id)."""
    rows = sorted(rows, key=lambda r: r[0].id)
    builder = IndexBuilder()
    for paper, texts in rows:
        builder.add(paper, len(texts))
    papers = [p for p, _ in rows]
    return Catalog(
        stamp,
        embedder,
        chunking,
        stored_chunks,
        papers,
        [t for _, t in rows],
        lexical,
        builder.build(),
    )


LEXICAL_DOC = "title2-authors-abstract"


def lexical_doc(paper: Paper) -> str:
    """The text BM25 indexes for a paper (title twice, authors, abstract)."""
    return f"{paper.title}. {paper.title}. {', '.join(paper.authors)}. {paper.abstract}"


ReadProgress = Callable[[int, int], None]  # (chunks read, chunks in the collection)


def lexical_version() -> str:
    """What the BM25 matrix depends on besides the papers: fields, tokenizer, parameters."""
    from rag.index.lexical import K1, B

    return f"{LEXICAL_DOC}/k1={K1}/b={B}"
