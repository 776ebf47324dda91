"""Hybrid retrieval: dense (Chroma) and BM25 fused per paper, author-aware, filterable."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from rag.config import Settings
from rag.embed import Embedder
from rag.errors import PaperchatError
from rag.index import catalog
from rag.index.catalog import Catalog
from rag.index.lexical import QUESTION_WORDS, STOPWORDS, query_terms, tokenize
from rag.index.store import nearest, open_collection, vectors_of
from rag.records import Hit, Paper, Passage
from rag.text import fold

if TYPE_CHECKING:
    from rag.index.store import Collection

Mode = Literal["hybrid", "dense", "lexical"]
DENSE_WEIGHT = 0.45
AUTHOR_BOOST = 1.0
MIN_DENSE_CANDIDATES = 200
EVIDENCE_PAPERS = 3
MAX_AUTHOR_PAPERS = 12
AUTHOR_MASKS = 8  # author filter masks kept per retriever
FILTERED_IDS = 500  # a filter allowing this many papers or fewer narrows the dense query itself


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

    def describe(self) -> str:
        """The filters set, as a user gave them: `author 'Smith', 2020-2022`."""
        parts = [f"author {self.author!r}"] if self.author else []
        parts += [f"source {self.source!r}"] if self.source else []
        if self.year_min is not None or self.year_max is not None:
            low = "" if self.year_min is None else str(self.year_min)
            high = "" if self.year_max is None else str(self.year_max)
            parts.append(f"years {low}-{high}" if low != high else f"year {low}")
        return ", ".join(parts) or "none"


class NoPaperMatches(PaperchatError):
    """A filter that no paper in the index passes: said as such, never as an abstention."""

    def __init__(self, filters: Filters) -> None:
        super().__init__(
            f"no paper matches the filter ({filters.describe()}); loosen it or run "
            "`paperchat papers` to see the authors, years and sources indexed"
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
        """Evidence that the collection covers the question; see docs/abstention.md."""
        return self.top_dense + self.top_coverage - self.unknown_terms


@dataclass
class ChunkRow:
    """A chunk as the catalog holds it: its id, its paper's row and its text."""

    id: str
    paper: int
    text: str


class Retriever:
    """Holds the corpus's catalog (mapped, see `rag.index.catalog`) for BM25 and queries Chroma.

    The catalog is the saved one when its stamp matches the collection's, else it is built
    from the chunks in Chroma (and saved for the next process; `progress` follows that).
    """

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        progress: catalog.ReadProgress | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.collection: Collection = open_collection(settings)
        self._use(catalog.load(settings, self.collection, progress=progress))

    def _use(self, found: Catalog) -> None:
        assert found.lexical is not None
        self.stamp = found.stamp  # the collection's generation this catalog describes
        self.papers: Sequence[Paper] = found.papers
        self.texts = found.texts
        self.lexical = found.lexical
        self.index = found.index
        self.n_chunks = int(found.index.n_chunks.sum())
        self._years: tuple[np.ndarray, np.ndarray] | None = None
        self._author_masks: dict[str, np.ndarray] = {}
        self.authors = {key: a for a, key in enumerate(found.index.author_keys)}
        surnames = [key.rsplit(" ", 1)[-1] for key in found.index.author_keys]
        count = Counter(surnames)
        self.surnames = {
            s: key
            for s, key in zip(surnames, found.index.author_keys, strict=True)
            if count[s] == 1
        }

    def author_papers(self, key: str) -> np.ndarray:
        """The rows of the papers by a folded author name."""
        return self.index.author_papers(self.authors[key])

    def author_name(self, key: str) -> str:
        """An author's name as a paper spells it."""
        return self.index.author_names[self.authors[key]]

    def chunk_rows(self) -> list[ChunkRow]:
        """Every chunk of every paper, in catalog order (for evaluation tools)."""
        return [
            ChunkRow(f"{paper.id}:{i}", p, text)
            for p, paper in enumerate(self.papers)
            for i, text in enumerate(self.texts[p])
        ]

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

    def _dense(
        self, question: str, n: int, allowed: np.ndarray | None = None
    ) -> dict[tuple[int, int], float]:
        """Return (paper row, chunk number) -> cosine similarity for the n nearest chunks.

        Texts and metadata are in the catalog, so only ids and distances are fetched. When a
        filter allows at most FILTERED_IDS papers (`allowed`: a mask), the nearest of their
        own chunks are found instead (`_dense_among`); a larger allowed set is filtered
        afterwards.
        """
        query = self.embedder.embed_query(question)
        if allowed is not None:
            rows = np.flatnonzero(allowed)
            if len(rows) <= FILTERED_IDS:
                return self._dense_among(query, rows, n)
        out: dict[tuple[int, int], float] = {}
        for cid, dist in nearest(self.collection, query, n):
            pid, _, number = cid.rpartition(":")
            row = self.index.position(pid)
            if row is not None and number.isdigit() and int(number) < self.index.n_chunks[row]:
                out[(row, int(number))] = 1.0 - float(dist)
        return out

    def _dense_among(
        self, query: list[float], rows: np.ndarray, n: int
    ) -> dict[tuple[int, int], float]:
        """The n chunks of these papers most similar to the query, scored here.

        Their vectors are fetched by id (a key lookup, a few ms), not through a filtered
        Chroma query: `chroma run` 1.5 takes ~4.5 s for a `where` or `ids` restricted query
        over 2M records against ~6 ms unfiltered (measured at 1M papers).
        """
        keys = [(int(r), i) for r in rows.tolist() for i in range(int(self.index.n_chunks[r]))]
        if not keys:
            return {}
        ids = [f"{bytes(self.index.ids[r]).decode()}:{i}" for r, i in keys]
        at = {cid: key for cid, key in zip(ids, keys, strict=True)}
        got, vectors = vectors_of(self.collection, ids)
        found = [at[cid] for cid in got]
        if not found:
            return {}
        matrix = np.asarray(vectors, dtype=np.float32)
        q = np.asarray(query, dtype=np.float32)
        sims = matrix @ q / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(q) + 1e-12)
        best = _top(sims, n)
        return {found[i]: float(sims[i]) for i in best}

    def search(
        self, question: str, k: int, filters: Filters | None = None, mode: Mode = "hybrid"
    ) -> Retrieval:
        """Rank papers for a question and keep the top k with their best passages."""
        n_papers = len(self.papers)
        terms = query_terms(question) or tokenize(question)
        dense_paper = np.zeros(n_papers, dtype=np.float32)
        chunk_sims: dict[tuple[int, int], float] = {}
        allowed = self._allowed(filters) if filters else None
        if filters is not None and allowed is not None and n_papers and not allowed.any():
            raise NoPaperMatches(filters)
        if mode != "lexical" and n_papers:
            n = min(self.n_chunks, max(MIN_DENSE_CANDIDATES, k * 12))
            chunk_sims = self._dense(question, n, allowed)
            for (p, _), sim in chunk_sims.items():
                dense_paper[p] = max(dense_paper[p], sim)
        lex = self.lexical.scores(terms) if mode != "dense" else np.zeros(n_papers, np.float32)
        fused = self._fuse(dense_paper, lex, chunk_sims, mode)
        author = self.match_author(question)
        authored: set[int] = set()
        if author:
            by_author = self.author_papers(author)
            fused[by_author] += AUTHOR_BOOST
            k = max(k, min(len(by_author), MAX_AUTHOR_PAPERS))
            authored = set(by_author.tolist())
        if allowed is not None:
            fused = np.where(allowed, fused, -np.inf).astype(np.float32)
        order = _top(fused, max(k, EVIDENCE_PAPERS))  # all that is read below
        name = self.author_name(author) if author else None
        hits = tuple(
            self._hit(
                i, fused, dense_paper, lex, chunk_sims, terms, name if i in authored else None
            )
            for i in order[:k]
        )
        best = order[:EVIDENCE_PAPERS]
        return Retrieval(
            query=question,
            hits=hits,
            terms=tuple(terms),
            top_dense=max((float(dense_paper[i]) for i in best), default=0.0),
            top_coverage=max((self.lexical.coverage(terms, i) for i in best), default=0.0),
            unknown_terms=self.lexical.unknown_share(terms),
            author=name,
        )

    def _allowed(self, filters: Filters) -> np.ndarray:
        """Boolean mask of the papers `filters.allows`, computed from the catalog's postings.

        Same semantics as `Filters.allows` (tested against it), without a Python call per
        paper: authors are matched against the distinct folded names, sources against the
        distinct source file names.
        """
        n = len(self.papers)
        mask = np.ones(n, dtype=bool)
        if filters.author:
            mask &= self._author_mask(fold(filters.author))
        if filters.source:
            hit = np.zeros(n, dtype=bool)
            for s, name in enumerate(self.index.sources):
                if filters.source in name:
                    hit[self.index.source_papers(s)] = True
            mask &= hit
        if filters.year_min is not None or filters.year_max is not None:
            if self._years is None:
                years = np.asarray(self.index.years)
                self._years = (years, years != 0)
            years, has_year = self._years
            if filters.year_min is not None:
                mask &= has_year & (years >= filters.year_min)
            if filters.year_max is not None:
                mask &= has_year & (years <= filters.year_max)
        return mask

    def _author_mask(self, needle: str) -> np.ndarray:
        """Papers by any author whose folded name contains `needle` (the last few kept)."""
        found = self._author_masks.get(needle)
        if found is None:
            found = np.zeros(len(self.papers), dtype=bool)
            for a, key in enumerate(self.index.author_keys):
                if needle in key:
                    found[self.index.author_papers(a)] = True
            if len(self._author_masks) >= AUTHOR_MASKS:
                self._author_masks.pop(next(iter(self._author_masks)))
            self._author_masks[needle] = found
        return found

    def _fuse(
        self,
        dense: np.ndarray,
        lex: np.ndarray,
        chunk_sims: dict[tuple[int, int], float],
        mode: Mode,
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
        chunk_sims: dict[tuple[int, int], float],
        terms: list[str],
        matched_author: str | None,
    ) -> Hit:
        """Build a hit with the paper's passages ordered by how well they match."""
        term_set = set(terms)
        paper = self.papers[p]
        passages = []
        for i, text in enumerate(self.texts[p]):
            overlap = len(term_set & set(tokenize(text))) / max(len(term_set), 1)
            score = 0.5 * chunk_sims.get((p, i), 0.0) + 0.5 * overlap
            passages.append(Passage(chunk_id=f"{paper.id}:{i}", text=text, score=round(score, 4)))
        passages.sort(key=lambda x: -x.score)
        return Hit(
            paper=paper,
            score=round(float(fused[p]), 4),
            passages=tuple(passages),
            dense_score=round(float(dense[p]), 4),
            lexical_score=round(float(lex[p]), 4),
            matched_author=matched_author,
        )


def _top(scores: np.ndarray, k: int) -> list[int]:
    """The rows of the k best finite scores, best first (ties: lower row first)."""
    k = min(k, len(scores))
    if k <= 0:
        return []
    part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    threshold = scores[part].min()
    # every row tied with the k-th score competes, so ties resolve by row as a stable sort would
    candidates = np.flatnonzero(scores >= threshold)
    ranked = candidates[np.argsort(-scores[candidates], kind="stable")]
    return [int(i) for i in ranked[:k] if np.isfinite(scores[i])]


def _floor(chunk_sims: dict[tuple[int, int], float]) -> float:
    """The dense score that maps to 0: the MIN_DENSE_CANDIDATES-th best chunk similarity.

    Fixed in rank rather than "the last candidate fetched", so a paper's fused score does not
    depend on how many papers were asked for (k = 100 fetches more candidates than k = 5).
    """
    if not chunk_sims:
        return 0.0
    sims = sorted(chunk_sims.values(), reverse=True)
    return sims[min(len(sims), MIN_DENSE_CANDIDATES) - 1]
