"""Lexical side of retrieval: a tokenizer with stemming and a paper-level BM25 index."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_SPLIT = re.compile(r"[-']")
# Words that frame a sentence in this domain but that the general English list keeps.
DOMAIN_STOPWORDS = frozenset(["also", "based", "could", "use", "used", "using", "via", "would"])


def _bm25s_stopwords() -> frozenset[str]:
    """bm25s's English stop words (NLTK's list), read without importing bm25s itself.

    `import bm25s` pulls in scipy.sparse (~0.3 s), which a cold `paperchat ask` does not
    otherwise pay; its `stopwords` module is plain data, so it is executed on its own.
    """
    spec = importlib.util.find_spec("bm25s")
    path = Path(spec.origin).with_name("stopwords.py") if spec and spec.origin else None
    source = importlib.util.spec_from_file_location("_bm25s_stopwords", path) if path else None
    if source is None or source.loader is None:
        raise ImportError("bm25s is not installed; pip install bm25s")
    module = importlib.util.module_from_spec(source)
    source.loader.exec_module(module)
    return frozenset(module.STOPWORDS_EN_PLUS)


STOPWORDS = _bm25s_stopwords() | DOMAIN_STOPWORDS
# Names what `tokenize` does; a saved BM25 index built by another version is rebuilt.
TOKENIZER = "words+hyphen-parts/bm25s-en-plus+domain-stopwords/snowball-english"
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
    """BM25 over documents (one per paper), kept as the score matrix bm25s builds.

    The matrix is stored column-wise (CSC: one column of (document, score) pairs per term),
    which is also what the catalog saves, so a loaded index needs neither bm25s nor the text.
    """

    def __init__(
        self,
        vocab: Sequence[str],
        data: np.ndarray,
        indices: np.ndarray,
        indptr: np.ndarray,
        n_docs: int,
    ) -> None:
        self.vocab = vocab
        self.data, self.indices, self.indptr, self.n_docs = data, indices, indptr, n_docs
        self.term_ids = {t: i for i, t in enumerate(vocab)}
        df = np.diff(indptr)
        present = np.flatnonzero(df)
        idf = np.log(1 + (n_docs - df[present] + 0.5) / (df[present] + 0.5))
        self.idf = dict(zip((vocab[i] for i in present.tolist()), idf.tolist(), strict=True))
        self.max_idf = float(np.log(1 + (n_docs - 0.5) / 1.5)) if n_docs else 1.0

    @classmethod
    def build(cls, docs: Sequence[str]) -> LexicalIndex:
        """Tokenize documents and compute their BM25 scores with bm25s."""
        import bm25s

        tokens = [tokenize(d) for d in docs]
        if not any(tokens):
            empty = np.zeros(0, dtype=np.int32)
            return cls([], np.zeros(0, np.float32), empty, np.zeros(1, np.int32), len(docs))
        bm25 = bm25s.BM25(k1=1.2, b=0.75)
        bm25.index(tokens, show_progress=False)
        m = bm25.scores
        vocab = [""] * (len(m["indptr"]) - 1)  # bm25s appends "" (no column) for empty queries
        for term, i in bm25.vocab_dict.items():
            if i < len(vocab):
                vocab[i] = term
        return cls(vocab, m["data"], m["indices"], m["indptr"], len(docs))

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """Return a BM25 score for every document (the sum of the query terms' columns)."""
        out = np.zeros(self.n_docs, dtype=np.float32)
        for term in terms:
            t = self.term_ids.get(term)
            if t is not None:
                start, end = self.indptr[t], self.indptr[t + 1]
                np.add.at(out, self.indices[start:end], self.data[start:end])
        return out

    def _weights(self, terms: Sequence[str]) -> dict[str, float]:
        return {t: self.idf.get(t, self.max_idf) for t in dict.fromkeys(terms)}

    def _contains(self, term: str, doc: int) -> bool:
        t = self.term_ids[term]
        return bool((self.indices[self.indptr[t] : self.indptr[t + 1]] == doc).any())

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
        return sum(w for t, w in weight.items() if t in self.idf and self._contains(t, doc)) / total
