"""The no-LLM backend: a short cited summary built from the best sentences of the top papers."""

from __future__ import annotations

import re

from rag.lexical import LexicalIndex, tokenize
from rag.records import Hit
from rag.retrieve import AUTHOR_BOOST
from rag.text import split_sentences

MAX_PAPERS = 4
LIST_CUTOFF = 0.6  # a question asking for several papers keeps those within 60% of the best
SINGLE_CUTOFF = 0.85  # otherwise only near-ties with the best paper are cited
_PLURAL = re.compile(
    r"\b(papers|studies|works|articles|approaches|methods|techniques|list|compare|both"
    r"|several|various|ones|two|three|four|other)\b",
    re.IGNORECASE,
)
_CONTRIBUTION = re.compile(
    r"\b(we (propose|introduce|present|develop|design|find|show)"
    r"|this (paper|work)|in this (paper|work))\b",
    re.IGNORECASE,
)


def select_hits(
    hits: tuple[Hit, ...], question: str, author: str | None, topical: bool
) -> list[Hit]:
    """Keep the papers close enough to the best one to be part of the answer.

    A question in the plural ("which papers ...") keeps more of them than one about a single
    paper. A question naming an author keeps that author's papers: all of them when it asks
    nothing more, otherwise those that match the rest of the question.
    """
    if not hits:
        return []
    cutoff = LIST_CUTOFF if _PLURAL.search(question) else SINGLE_CUTOFF
    by_author = [h for h in hits if h.matched_author] if author else []
    if by_author and not topical:
        return by_author
    pool = by_author or list(hits)
    base = [h.score - (AUTHOR_BOOST if h.matched_author else 0.0) for h in pool]
    chosen = [h for h, b in zip(pool, base, strict=True) if b >= cutoff * max(base)]
    return chosen if by_author else chosen[:MAX_PAPERS]


def best_sentences(
    hit: Hit, terms: tuple[str, ...], lexical: LexicalIndex, topical: bool, n: int = 1
) -> list[str]:
    """Pick the n sentences that best answer the question (or state the contribution), in order."""
    sentences = split_sentences(hit.paper.abstract)
    if not sentences:
        return [hit.paper.abstract]
    weights = {t: lexical.idf.get(t, lexical.max_idf) for t in terms}
    total = sum(weights.values()) or 1.0
    best_passage = hit.passages[0].text if hit.passages else ""

    def score(i: int, sentence: str) -> float:
        words = set(tokenize(sentence))
        overlap = 2.0 * sum(w for t, w in weights.items() if t in words) / total
        cue = 1.5 if _CONTRIBUTION.search(sentence) else 0.0
        length = 0.0 if 6 <= len(sentence.split()) <= 60 else -2.0
        background = 1.5 if i == 0 else 0.0  # first sentences usually set the scene
        in_best = 0.5 if best_passage and sentence in best_passage else 0.0
        return (overlap if topical else 0.0) + cue + length + in_best - background - 0.05 * i

    ranked = sorted(enumerate(sentences), key=lambda pair: -score(*pair))[:n]
    return [sentence for _, sentence in sorted(ranked)]


def compose(hits: list[Hit], sentences: list[list[str]], author: str | None) -> str:
    """Write the answer: one cited line per paper, with a lead line when there are several."""
    if len(hits) == 1:
        return " ".join(cite(sentence, 1) for sentence in sentences[0])
    lead = (
        f"The collection has {len(hits)} papers by {author}:"
        if author
        else f"{len(hits)} papers in the collection bear on this:"
    )
    lines = [
        f"- **{hit.paper.title}**: " + " ".join(cite(sentence, i) for sentence in chosen)
        for i, (hit, chosen) in enumerate(zip(hits, sentences, strict=True), 1)
    ]
    return "\n".join([lead, *lines])


def cite(sentence: str, n: int) -> str:
    """Put the citation marker before the sentence's final punctuation."""
    sentence = sentence.strip()
    if sentence[-1:] in ".!?":
        return f"{sentence[:-1]} [{n}]{sentence[-1]}"
    return f"{sentence} [{n}]"
