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
class Claim:
    """One claim of an answer, checked against the retrieved abstracts.

    `status` is "cited" (a source it cites supports it), "added" (it cited nothing and one
    source clearly supports it), "recited" (its citation pointed at a source that does not
    support it and another clearly does) or "unsupported" (nothing does; shown marked).
    """

    text: str
    citations: tuple[int, ...]
    quote: str | None  # the supporting sentence, verbatim from the abstract of `source`
    source: int | None
    score: float
    supported: bool
    status: str
    model_citations: tuple[int, ...] = ()
    display: str = ""  # the claim as it appears in the answer text


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
    claims: tuple[Claim, ...] = ()
    fallback: str | None = None  # why the model's reply was replaced by an extractive answer
    model_reply: str | None = None  # what the model wrote, raw (JSON claims or text)

    @property
    def unsupported_claims(self) -> int:
        """How many claims shown are marked unsupported."""
        return sum(1 for c in self.claims if not c.supported)
