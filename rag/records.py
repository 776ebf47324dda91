"""Typed records that flow through the pipeline (frozen dataclasses, no positional tuples)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Paper:
    """One paper: a unique abstract with whatever metadata its source files carry."""

    id: str
    title: str
    abstract: str
    authors: tuple[str, ...] = ()
    year: int | None = None
    date: str | None = None
    url: str | None = None
    title_derived: bool = False
    n_authors: int | None = None
    upvotes: int | None = None
    sources: tuple[str, ...] = ()
    doi: str | None = None
    arxiv_id: str | None = None
    source_ids: tuple[str, ...] = ()  # the files' own ids for this paper (BEIR _id, CSL id...)

    @property
    def source_names(self) -> tuple[str, ...]:
        """Return the file names (without line numbers) this paper was read from."""
        return tuple(dict.fromkeys(s.rsplit(":", 1)[0] for s in self.sources))


@dataclass(frozen=True)
class Chunk:
    """A sentence-aligned slice of one paper's abstract."""

    id: str
    paper_id: str
    index: int
    text: str
    dense_text: str
    lexical_text: str


@dataclass(frozen=True)
class Passage:
    """A chunk's text as retrieved, with its fused score."""

    chunk_id: str
    text: str
    score: float


@dataclass(frozen=True)
class Hit:
    """A retrieved paper: its best passages and the scores that ranked it."""

    paper: Paper
    score: float
    passages: tuple[Passage, ...]
    dense_score: float = 0.0
    lexical_score: float = 0.0
    matched_author: str | None = None


@dataclass(frozen=True)
class Citation:
    """A numbered source the answer cites."""

    n: int
    paper_id: str
    title: str
    authors: tuple[str, ...]
    year: int | None
    source: str
    passage: str


@dataclass(frozen=True)
class Answer:
    """A cited answer to one question, with how it was produced."""

    question: str
    text: str
    citations: tuple[Citation, ...]
    abstained: bool
    backend: str
    model: str | None
    hits: tuple[Hit, ...] = ()
    removed_citations: tuple[str, ...] = ()
    notices: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
