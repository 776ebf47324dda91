"""Lexical side of retrieval: a tokenizer with stemming and a paper-level BM25 index."""

from __future__ import annotations

import importlib.util
import re
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
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


def _triples(
    tokens: Iterable[Sequence[str]], vocab: dict[str, int], first: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(term id, document number, count) for every distinct term of every document.

    New terms are appended to `vocab`; documents are numbered from `first`.
    """
    terms: list[int] = []
    docs: list[int] = []
    tfs: list[int] = []
    for n, doc in enumerate(tokens, first):
        for term, tf in Counter(doc).items():
            terms.append(vocab.setdefault(term, len(vocab)))
            docs.append(n)
            tfs.append(tf)
    return (
        np.array(terms, dtype=np.int64),
        np.array(docs, dtype=np.int64),
        np.array(tfs, dtype=np.float32),
    )


class TermCounter:
    """Builds a `LexicalIndex` document by document, keeping only term ids and counts.

    Each document's distinct terms and their counts are kept as int32 / float32, gathered
    into blocks of BLOCK documents (about 8 bytes per (document, term) entry). `index` moves
    the blocks one by one into the column-wise matrix, so building never holds much more than
    the entries twice over.
    """

    BLOCK = 4096

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.doc_len = array("f")
        self.sizes = array("i")  # distinct terms per document
        self._blocks: list[tuple[int, int, np.ndarray, np.ndarray]] = []  # first doc, docs, ...
        self._open: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, text: str) -> None:
        """Tokenize and count the next document."""
        tokens = tokenize(text)
        ids = np.fromiter(
            (self.vocab.setdefault(t, len(self.vocab)) for t in tokens), np.int32, len(tokens)
        )
        terms, tfs = np.unique(ids, return_counts=True)
        self._open.append((terms, tfs.astype(np.float32)))
        self.sizes.append(len(terms))
        self.doc_len.append(len(tokens))
        if len(self._open) >= self.BLOCK:
            self._seal()

    def _seal(self) -> None:
        if self._open:
            terms, tfs = zip(*self._open, strict=True)
            first = len(self.sizes) - len(self._open)
            self._blocks.append((first, len(terms), np.concatenate(terms), np.concatenate(tfs)))
            self._open = []

    def index(self) -> LexicalIndex:
        """The index of every document added (once: the counter lets go of its blocks)."""
        self._seal()
        n_terms = len(self.vocab)
        indptr = np.zeros(n_terms + 1, dtype=np.int64)
        for _, _, terms, _ in self._blocks:
            indptr[1:] += np.bincount(terms, minlength=n_terms)
        np.cumsum(indptr, out=indptr)
        indices = np.empty(int(indptr[-1]), dtype=np.int32)
        counts = np.empty(int(indptr[-1]), dtype=np.float32)
        cursor = indptr[:-1].copy()  # where each column's next entry goes
        sizes = np.frombuffer(self.sizes, dtype=np.int32)
        blocks, self._blocks = self._blocks[::-1], []
        while blocks:  # earlier documents first, so each column's documents come in order
            first, n, terms, tfs = blocks.pop()
            docs = np.repeat(np.arange(first, first + n, dtype=np.int32), sizes[first : first + n])
            order = np.argsort(terms, kind="stable")
            by_term = terms[order]
            starts = np.flatnonzero(np.diff(by_term, prepend=-1))
            lengths = np.diff(np.append(starts, len(by_term)))
            rank = np.arange(len(by_term)) - np.repeat(starts, lengths)  # place within its run
            at = cursor[by_term] + rank
            indices[at], counts[at] = docs[order], tfs[order]
            cursor[by_term[starts]] += lengths
        return LexicalIndex.from_arrays(
            list(self.vocab),
            counts,
            indices,
            indptr,
            np.frombuffer(self.doc_len, dtype=np.float32).copy(),
        )


def query_terms(question: str) -> list[str]:
    """Tokenize a question, dropping words that only frame it ('which papers ...')."""
    return tokenize(question, STOPWORDS | QUESTION_WORDS)


K1, B = 1.2, 0.75  # BM25 parameters (bm25s' "lucene" scoring)


class LexicalIndex:
    """BM25 over documents (one per paper): term counts and the score matrix made from them.

    Both are stored column-wise (CSC: one column of (document, value) pairs per term). The
    scores are what queries sum; the counts and document lengths let an index be updated
    (documents removed, added) without tokenizing the unchanged ones again. The catalog saves
    the counts, so a loaded index needs neither bm25s nor the text.
    """

    def __init__(
        self,
        vocab: Sequence[str],
        data: np.ndarray,
        indices: np.ndarray,
        indptr: np.ndarray,
        n_docs: int,
        counts: np.ndarray | None = None,
        doc_len: np.ndarray | None = None,
    ) -> None:
        self.vocab = vocab
        self.data, self.indices, self.indptr, self.n_docs = data, indices, indptr, n_docs
        self.counts, self.doc_len = counts, doc_len
        self.term_ids = {t: i for i, t in enumerate(vocab)}
        df = np.diff(indptr)
        present = np.flatnonzero(df)
        idf = np.log(1 + (n_docs - df[present] + 0.5) / (df[present] + 0.5))
        self.idf = dict(zip((vocab[i] for i in present.tolist()), idf.tolist(), strict=True))
        self.max_idf = float(np.log(1 + (n_docs - 0.5) / 1.5)) if n_docs else 1.0

    @classmethod
    def build(cls, docs: Iterable[str]) -> LexicalIndex:
        """Tokenize documents and compute their BM25 scores (tokens are not kept)."""
        counter = TermCounter()
        for doc in docs:
            counter.add(doc)
        return counter.index()

    @classmethod
    def from_arrays(
        cls,
        vocab: Sequence[str],
        counts: np.ndarray,
        indices: np.ndarray,
        indptr: np.ndarray,
        doc_len: np.ndarray,
    ) -> LexicalIndex:
        """Compute the BM25 score matrix from the count matrix (as the catalog saves it)."""
        n_docs = len(doc_len)
        df = np.diff(indptr)
        idf = np.log(1 + (n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        avg = float(doc_len.mean()) if n_docs and doc_len.mean() > 0 else 1.0
        norm = (K1 * (1 - B + B * doc_len / avg)).astype(np.float32)
        # idf * count / (count + norm), float32, with one temporary the size of the matrix
        data = np.repeat(idf, df)
        data *= counts
        denominator = norm[indices]
        denominator += counts
        data /= denominator
        return cls(vocab, data, indices, indptr, n_docs, counts, doc_len)

    def updated(
        self, kept: np.ndarray, added: Mapping[int, Sequence[str]], n_docs: int
    ) -> LexicalIndex:
        """A new index: old document i becomes `kept[i]` (-1: dropped), plus `added` documents.

        Kept documents keep their relative order (the catalog's are sorted by paper id), so
        each column's kept entries stay sorted: the added documents' entries are inserted where
        they belong, column by column, and nothing is sorted again. Only the added documents
        are tokenized (given as tokens, by their new position). Working memory is a few int32 /
        float32 arrays the size of the matrix.
        """
        assert self.counts is not None and self.doc_len is not None
        stays = kept >= 0
        moved = kept[stays]
        assert bool(np.all(np.diff(moved) > 0)), "kept documents must keep their order"
        doc_len = np.zeros(n_docs, dtype=np.float32)
        doc_len[moved] = self.doc_len[stays]
        positions = np.array(list(added), dtype=np.int64)
        doc_len[positions] = [len(t) for t in added.values()]
        vocab = {t: i for i, t in enumerate(self.vocab)}
        new_terms, new_docs, new_tfs = _triples(added.values(), vocab, 0)
        new_docs = positions[new_docs] if len(positions) else new_docs

        docs = kept.astype(np.int32)[self.indices]  # each entry's new document, -1: dropped
        ptr = np.zeros(len(vocab) + 1, dtype=np.int64)  # the kept entries' columns
        ptr[: len(self.indptr)] = self.indptr
        ptr[len(self.indptr) :] = self.indptr[-1]
        counts: np.ndarray = self.counts
        if not bool(stays.all()):
            dropped = np.flatnonzero(docs < 0)
            column = np.searchsorted(self.indptr, dropped, side="right") - 1
            ptr[1:] -= np.cumsum(np.bincount(column, minlength=len(vocab)))
            docs, counts = np.delete(docs, dropped), np.delete(self.counts, dropped)
        order = np.lexsort((new_docs, new_terms))
        new_terms, new_docs, new_tfs = new_terms[order], new_docs[order], new_tfs[order]
        at = np.empty(len(new_terms), dtype=np.int64)
        starts = np.flatnonzero(np.diff(new_terms, prepend=-1)).tolist()  # a run per term
        for start, end in zip(starts, [*starts[1:], len(new_terms)][: len(starts)], strict=True):
            t = int(new_terms[start])
            lo, hi = int(ptr[t]), int(ptr[t + 1])
            at[start:end] = lo + np.searchsorted(docs[lo:hi], new_docs[start:end])
        ptr[1:] += np.cumsum(np.bincount(new_terms, minlength=len(vocab)))
        return self.from_arrays(
            list(vocab),
            np.insert(counts, at, new_tfs).astype(np.float32, copy=False),
            np.insert(docs, at, new_docs.astype(np.int32)),
            ptr,
            doc_len,
        )

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """Return a BM25 score for every document (the sum of the query terms' columns)."""
        out = np.zeros(self.n_docs, dtype=np.float32)
        for term in terms:
            t = self.term_ids.get(term)
            if t is not None:  # a column lists each document once, so += adds every entry
                start, end = self.indptr[t], self.indptr[t + 1]
                out[self.indices[start:end]] += self.data[start:end]
        return out

    def _weights(self, terms: Sequence[str]) -> dict[str, float]:
        return {t: self.idf.get(t, self.max_idf) for t in dict.fromkeys(terms)}

    def _contains(self, term: str, doc: int) -> bool:
        t = self.term_ids[term]
        column = self.indices[self.indptr[t] : self.indptr[t + 1]]  # documents in order
        i = int(np.searchsorted(column, doc))
        return i < len(column) and int(column[i]) == doc

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
