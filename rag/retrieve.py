"""Hybrid retrieval: dense (Chroma) and BM25 fused per paper, author-aware, filterable."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from rag import catalog
from rag.catalog import Catalog
from rag.config import Settings
from rag.embed import Embedder
from rag.lexical import QUESTION_WORDS, STOPWORDS, query_terms, tokenize
from rag.records import Hit, Paper, Passage
from rag.store import open_collection
from rag.text import fold

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

Mode = Literal["hybrid", "dense", "lexical"]
DENSE_WEIGHT = 0.45
AUTHOR_BOOST = 1.0
MIN_DENSE_CANDIDATES = 200
EVIDENCE_PAPERS = 3
MAX_AUTHOR_PAPERS = 12


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to papers by an author, from a source file, or within years."""

    author: str | None = None
    source: str | None = None
    year_min: int | None = None
    year_max: int | None = None

    def allows(self, paper: Paper) -> bool:
        """Tell whether a paper passes every filter set."""
        if self.author and not any(fold(self.author) in fold(a) for a in paper.authors):
            return False
        if self.source and not any(self.source in s for s in paper.source_names):
            return False
        if self.year_min is not None and (paper.year is None or paper.year < self.year_min):
            return False
        return not (
            self.year_max is not None and (paper.year is None or paper.year > self.year_max)
        )


@dataclass(frozen=True)
class Retrieval:
    """Ranked papers plus the evidence strength the abstention check reads."""

    query: str
    hits: tuple[Hit, ...]
    terms: tuple[str, ...]
    top_dense: float
    top_coverage: float
    unknown_terms: float
    author: str | None

    @property
    def relevance(self) -> float:
        """Evidence that the collection covers the question; see README, Abstention."""
        return self.top_dense + self.top_coverage - self.unknown_terms


@dataclass
class _ChunkRow:
    id: str
    paper: int
    text: str


class Retriever:
    """Holds the corpus in memory for BM25 and queries Chroma for the dense side.

    The corpus comes from the catalog when its stamp matches the collection's, else from
    the chunks in Chroma (and the catalog is then saved for the next process).
    """

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self.collection: Collection = open_collection(settings)
        self._use(catalog.load(settings, self.collection))

    def _use(self, found: Catalog) -> None:
        assert found.lexical is not None
        self.papers: list[Paper] = found.papers
        self.lexical = found.lexical
        self.chunks: list[_ChunkRow] = []
        self.paper_chunks: list[list[int]] = []
        for idx, (paper, texts) in enumerate(zip(found.papers, found.texts, strict=True)):
            first = len(self.chunks)
            self.chunks.extend(
                _ChunkRow(id=f"{paper.id}:{i}", paper=idx, text=t) for i, t in enumerate(texts)
            )
            self.paper_chunks.append(list(range(first, len(self.chunks))))
        self.by_id = {p.id: i for i, p in enumerate(self.papers)}
        self.chunk_by_id = {c.id: i for i, c in enumerate(self.chunks)}
        self._filter_index: tuple[np.ndarray, np.ndarray, dict[str, list[int]]] | None = None
        self.authors: dict[str, set[int]] = {}
        self.author_names: dict[str, str] = {}
        for i, p in enumerate(self.papers):
            for name in p.authors:
                key = fold(name)
                self.authors.setdefault(key, set()).add(i)
                self.author_names[key] = name
        surnames: dict[str, set[str]] = {}
        for key in self.authors:
            surnames.setdefault(key.rsplit(" ", 1)[-1], set()).add(key)
        self.surnames = {s: next(iter(k)) for s, k in surnames.items() if len(k) == 1}

    def match_author(self, question: str) -> str | None:
        """Return the folded author name the question mentions, if any.

        Full names match anywhere; a bare surname matches when it is capitalised (not as
        the question's first word), not an ordinary word, and belongs to one author only.
        """
        words = fold(question).split()
        for n in (4, 3, 2):
            for i in range(len(words) - n + 1):
                gram = " ".join(words[i : i + n])
                if gram in self.authors:
                    return gram
        for word in re.findall(r"(?<=\s)[A-Z][\w'-]{2,}", question):
            key = fold(word)
            if key in self.surnames and key not in STOPWORDS | QUESTION_WORDS:
                return self.surnames[key]
        return None

    def _dense(self, question: str, n: int) -> dict[int, float]:
        """Return chunk index -> cosine similarity for the n nearest chunks.

        Texts and metadata are already in memory, so only ids and distances are fetched.
        """
        result = self.collection.query(
            query_embeddings=[self.embedder.embed_query(question)],  # type: ignore[arg-type]
            n_results=n,
            include=["distances"],  # type: ignore[list-item]
        )
        out: dict[int, float] = {}
        for cid, dist in zip(result["ids"][0], (result["distances"] or [[]])[0], strict=True):
            if cid in self.chunk_by_id:
                out[self.chunk_by_id[cid]] = 1.0 - float(dist)
        return out

    def search(
        self, question: str, k: int, filters: Filters | None = None, mode: Mode = "hybrid"
    ) -> Retrieval:
        """Rank papers for a question and keep the top k with their best passages."""
        n_papers = len(self.papers)
        terms = query_terms(question) or tokenize(question)
        dense_paper = np.zeros(n_papers, dtype=np.float32)
        chunk_sims: dict[int, float] = {}
        if mode != "lexical" and n_papers:
            n = min(len(self.chunks), max(MIN_DENSE_CANDIDATES, k * 12))
            chunk_sims = self._dense(question, n)
            for ci, sim in chunk_sims.items():
                p = self.chunks[ci].paper
                dense_paper[p] = max(dense_paper[p], sim)
        lex = self.lexical.scores(terms) if mode != "dense" else np.zeros(n_papers, np.float32)
        fused = self._fuse(dense_paper, lex, chunk_sims, mode)
        author = self.match_author(question)
        if author:
            for p in self.authors[author]:
                fused[p] += AUTHOR_BOOST
            k = max(k, min(len(self.authors[author]), MAX_AUTHOR_PAPERS))
        ranked = np.argsort(-fused, kind="stable")
        if filters:
            ranked = ranked[self._allowed(filters)[ranked]]
        order = [int(i) for i in ranked[: max(k, EVIDENCE_PAPERS)]]  # all that is read below
        hits = tuple(
            self._hit(i, fused, dense_paper, lex, chunk_sims, terms, author) for i in order[:k]
        )
        best = order[:EVIDENCE_PAPERS]
        return Retrieval(
            query=question,
            hits=hits,
            terms=tuple(terms),
            top_dense=max((float(dense_paper[i]) for i in best), default=0.0),
            top_coverage=max((self.lexical.coverage(terms, i) for i in best), default=0.0),
            unknown_terms=self.lexical.unknown_share(terms),
            author=self.author_names.get(author) if author else None,
        )

    def _allowed(self, filters: Filters) -> np.ndarray:
        """Boolean mask of the papers `filters.allows`, computed from per-field indexes.

        Same semantics as `Filters.allows` (tested against it), without a Python call per
        paper: authors are matched against the distinct folded names, sources against the
        distinct source names.
        """
        n = len(self.papers)
        if self._filter_index is None:
            sources: dict[str, list[int]] = {}
            for i, p in enumerate(self.papers):
                for name in p.source_names:
                    sources.setdefault(name, []).append(i)
            self._filter_index = (
                np.array([p.year if p.year is not None else 0 for p in self.papers], np.int64),
                np.array([p.year is not None for p in self.papers], dtype=bool),
                sources,
            )
        years, has_year, source_index = self._filter_index
        mask = np.ones(n, dtype=bool)
        if filters.author:
            needle = fold(filters.author)
            hit = np.zeros(n, dtype=bool)
            for key, by_author in self.authors.items():
                if needle in key:
                    hit[list(by_author)] = True
            mask &= hit
        if filters.source:
            hit = np.zeros(n, dtype=bool)
            for name, from_source in source_index.items():
                if filters.source in name:
                    hit[from_source] = True
            mask &= hit
        if filters.year_min is not None:
            mask &= has_year & (years >= filters.year_min)
        if filters.year_max is not None:
            mask &= has_year & (years <= filters.year_max)
        return mask

    def _fuse(
        self, dense: np.ndarray, lex: np.ndarray, chunk_sims: dict[int, float], mode: Mode
    ) -> np.ndarray:
        """Min-max normalise each side over its candidates and blend them."""
        if mode == "lexical":
            return lex.copy()
        if mode == "dense":
            return dense.copy()
        floor = _floor(chunk_sims)
        top = float(dense.max()) if len(dense) else 0.0
        d = np.where(dense > 0, np.maximum(dense - floor, 0.0) / max(top - floor, 1e-6), 0.0)
        lex_max = float(lex.max()) if len(lex) else 0.0
        lexical = lex / lex_max if lex_max > 0 else lex
        return (DENSE_WEIGHT * d + (1 - DENSE_WEIGHT) * lexical).astype(np.float32)

    def _hit(
        self,
        p: int,
        fused: np.ndarray,
        dense: np.ndarray,
        lex: np.ndarray,
        chunk_sims: dict[int, float],
        terms: list[str],
        author: str | None,
    ) -> Hit:
        """Build a hit with the paper's passages ordered by how well they match."""
        term_set = set(terms)
        passages = []
        for ci in self.paper_chunks[p]:
            overlap = len(term_set & set(tokenize(self.chunks[ci].text))) / max(len(term_set), 1)
            score = 0.5 * chunk_sims.get(ci, 0.0) + 0.5 * overlap
            chunk = self.chunks[ci]
            passages.append(Passage(chunk_id=chunk.id, text=chunk.text, score=round(score, 4)))
        passages.sort(key=lambda x: -x.score)
        return Hit(
            paper=self.papers[p],
            score=round(float(fused[p]), 4),
            passages=tuple(passages),
            dense_score=round(float(dense[p]), 4),
            lexical_score=round(float(lex[p]), 4),
            matched_author=self.author_names.get(author)
            if author and p in self.authors[author]
            else None,
        )


def _floor(chunk_sims: dict[int, float]) -> float:
    """The dense score that maps to 0: the MIN_DENSE_CANDIDATES-th best chunk similarity.

    Fixed in rank rather than "the last candidate fetched", so a paper's fused score does not
    depend on how many papers were asked for (k = 100 fetches more candidates than k = 5).
    """
    if not chunk_sims:
        return 0.0
    sims = sorted(chunk_sims.values(), reverse=True)
    return sims[min(len(sims), MIN_DENSE_CANDIDATES) - 1]
