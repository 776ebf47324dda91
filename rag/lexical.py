"""Lexical side of retrieval: a tokenizer with stemming and a paper-level BM25 index."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_SPLIT = re.compile(r"[-']")
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "no",
        "nor",
        "not",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "also",
        "using",
        "use",
        "used",
        "via",
        "based",
    ]
)
# Words that say what kind of question it is, not what it is about.
QUESTION_WORDS = frozenset(
    [
        "paper",
        "papers",
        "work",
        "works",
        "study",
        "studies",
        "research",
        "article",
        "articles",
        "publication",
        "publications",
        "propose",
        "proposes",
        "proposed",
        "introduce",
        "introduces",
        "present",
        "presents",
        "approach",
        "approaches",
        "method",
        "methods",
        "show",
        "shows",
        "find",
        "finds",
        "tell",
        "anything",
        "something",
        "someone",
        "anyone",
        "collection",
        "corpus",
        "know",
        "describe",
        "described",
        "explain",
        "explains",
        "mention",
        "mentions",
        "author",
        "authors",
        "wrote",
        "write",
        "written",
        "worked",
        "working",
        "discuss",
        "discusses",
        "look",
        "looks",
        "looking",
        "kind",
        "way",
        "ways",
    ]
)


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(text: str, drop: frozenset[str] = STOPWORDS) -> list[str]:
    """Lower-case, split (keeping hyphenated compounds and their parts), drop stopwords, stem."""
    words: list[str] = []
    for word in _WORD.findall(text.lower()):
        if "-" not in word and "'" not in word:  # fast path: nothing to split
            words.append(word)
            continue
        parts = _SPLIT.split(word)
        words.append("".join(parts))
        words.extend(parts)
    kept = [w for w in words if w not in drop and (len(w) > 1 or w.isdigit())]
    return list(_stemmer().stemWords(kept))


def query_terms(question: str) -> list[str]:
    """Tokenize a question, dropping words that only frame it ('which papers ...')."""
    return tokenize(question, STOPWORDS | QUESTION_WORDS)


class LexicalIndex:
    """BM25 over documents (one per paper), with per-term document frequencies kept."""

    def __init__(self, docs: Sequence[str]) -> None:
        import bm25s

        self.tokens = [tokenize(d) for d in docs]
        self.bm25 = bm25s.BM25(k1=1.2, b=0.75)
        self.bm25.index(self.tokens, show_progress=False)
        self.doc_sets = [set(t) for t in self.tokens]
        n = len(docs)
        df: dict[str, int] = {}
        for s in self.doc_sets:
            for term in s:
                df[term] = df.get(term, 0) + 1
        self.idf = {t: float(np.log(1 + (n - c + 0.5) / (c + 0.5))) for t, c in df.items()}
        self.max_idf = float(np.log(1 + (n - 0.5) / 1.5)) if n else 1.0

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """Return a BM25 score for every document."""
        known = [t for t in terms if t in self.idf]
        if not known:
            return np.zeros(len(self.tokens), dtype=np.float32)
        return np.asarray(self.bm25.get_scores(known), dtype=np.float32)

    def _weights(self, terms: Sequence[str]) -> dict[str, float]:
        return {t: self.idf.get(t, self.max_idf) for t in dict.fromkeys(terms)}

    def unknown_share(self, terms: Sequence[str]) -> float:
        """Share of the query's IDF weight carried by terms no document contains."""
        weight = self._weights(terms)
        total = sum(weight.values())
        return sum(w for t, w in weight.items() if t not in self.idf) / total if total else 0.0

    def coverage(self, terms: Sequence[str], doc: int) -> float:
        """Share of the query's IDF weight whose terms occur in one document."""
        weight = self._weights(terms)
        total = sum(weight.values())
        if not total:
            return 0.0
        return sum(w for t, w in weight.items() if t in self.doc_sets[doc]) / total
