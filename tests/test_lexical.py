"""The lexical side against bm25s: its stop words, and the same BM25 scores as its scorer."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from rag.lexical import DOMAIN_STOPWORDS, STOPWORDS, LexicalIndex, tokenize
from rag.loaders import load_paths
from tests.conftest import SEEDS


def test_stop_words_are_bm25s_english_list_plus_domain_words() -> None:
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    assert frozenset(STOPWORDS_EN_PLUS) | DOMAIN_STOPWORDS == STOPWORDS


def test_reading_the_stop_words_does_not_import_bm25s() -> None:
    code = "import sys, rag.lexical; assert not {'bm25s', 'scipy'} & set(sys.modules)"
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
