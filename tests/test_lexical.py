"""The lexical side against bm25s: its stop words, and the same BM25 scores as its scorer."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rag.corpus.loaders import load_paths
from rag.index.lexical import DOMAIN_STOPWORDS, STOPWORDS, LexicalIndex, tokenize
from tests.conftest import SEEDS


def test_stop_words_are_bm25s_english_list_plus_domain_words() -> None:
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    assert frozenset(STOPWORDS_EN_PLUS) | DOMAIN_STOPWORDS == STOPWORDS


def test_reading_the_stop_words_does_not_import_bm25s() -> None:
    code = "import sys, rag.index.lexical; assert not {'bm25s', 'scipy'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_scores_equal_bm25s_own_scorer() -> None:
    """The catalog keeps bm25s's matrix and sums its columns; bm25s would give the same."""
    import bm25s

    papers = load_paths([SEEDS]).papers
    docs = [f"{p.title}. {p.abstract}" for p in papers]
    ours = LexicalIndex.build(docs)
    theirs = bm25s.BM25(k1=1.2, b=0.75)
    theirs.index([tokenize(d) for d in docs], show_progress=False)
    for question in ("chain-of-thought compression", "process reward models", "STeCa agents"):
        terms = list(dict.fromkeys(tokenize(question)))
        expected = theirs.get_scores([t for t in terms if t in theirs.vocab_dict])
        np.testing.assert_allclose(ours.scores(terms), expected, rtol=1e-5, atol=1e-6)


def _columns(index: LexicalIndex) -> dict[str, tuple[list[int], list[float], list[float]]]:
    """Each term's column: documents, counts and scores."""
    assert index.counts is not None
    out = {}
    for t, term in enumerate(index.vocab):
        lo, hi = int(index.indptr[t]), int(index.indptr[t + 1])
        if hi > lo:
            out[term] = (
                index.indices[lo:hi].tolist(),
                index.counts[lo:hi].tolist(),
                index.data[lo:hi].tolist(),
            )
    return out


def test_an_updated_index_equals_one_built_anew() -> None:
    """Documents dropped, kept (moved up) and added between and after them, new words among
    theirs: the updated index has the columns, counts and scores of one built from scratch."""
    papers = load_paths([SEEDS]).papers
    docs = [f"{p.title}. {p.abstract}" for p in papers]
    base = LexicalIndex.build(docs[:40])
    dropped = {3, 4, 17, 39}
    after = [d for i, d in enumerate(docs[:40]) if i not in dropped]
    added = {0: docs[50], 10: "zyxwv quasar " + docs[51], len(after) + 2: docs[52]}
    for position in sorted(added):  # where each added document lands in the new order
        after.insert(position, added[position])
    kept, row = np.full(40, -1, dtype=np.int64), 0
    for i in range(40):
        while row in added:
            row += 1
        if i not in dropped:
            kept[i], row = row, row + 1
    assert [after[k] for k in kept[kept >= 0]] == [
        d for i, d in enumerate(docs[:40]) if i not in dropped
    ]
    tokens = {n: tokenize(d) for n, d in added.items()}
    updated = base.updated(kept, tokens, len(after))
    fresh = LexicalIndex.build(after)
    got, want = _columns(updated), _columns(fresh)
    assert "zyxwv" in got and got.keys() == want.keys()
    for term, (rows, counts, scores) in want.items():
        assert got[term][:2] == (rows, counts), term
        np.testing.assert_allclose(got[term][2], scores, rtol=1e-6)
    assert np.array_equal(updated.doc_len, fresh.doc_len)


def test_an_index_built_in_many_blocks_equals_one_built_in_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The counter moves its blocks of documents into the matrix one by one: with blocks of 7
    documents the columns, counts and scores are those of a single block."""
    from rag.index.lexical import TermCounter

    docs = [f"{p.title}. {p.abstract}" for p in load_paths([SEEDS]).papers]
    whole = LexicalIndex.build(docs)
    monkeypatch.setattr(TermCounter, "BLOCK", 7)
    blocks = LexicalIndex.build(docs)
    assert blocks.vocab == whole.vocab
    for name in ("indptr", "indices", "counts", "data", "doc_len"):
        assert np.array_equal(getattr(blocks, name), getattr(whole, name)), name
