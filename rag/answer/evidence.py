"""Evidence first: the sentences of the retrieved abstracts that bear on a question, numbered.

A model answers from these quotes, not from whole abstracts: a small local model given a few
hundred tokens of chosen sentences writes grounded claims where whole abstracts make it refuse
or paste, and the prompt is a fraction of the size (the latency on a CPU). Sentences are
scored as the extractive backend scores them (meaning, term overlap, what the paper does, no
scene-setting, no questions); instructions planted in an abstract never reach this far (see
`rag.answer.sentences.trusted_sentences`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rag.answer.extractive import Extractor
from rag.answer.sentences import leans_back
from rag.index.lexical import query_terms
from rag.records import Hit

# Sentences chosen per paper by its rank among the papers an answer draws on (a sentence it
# leans on comes with it); later ranks take the last figure. The units are then numbered
# round-robin across the papers, best first (`interleave`), and the first
# `Settings.llm_evidence_units` are given to the model. The best paper holds most answers: on
# the dev set the first 10 units hold 0.857 of the answer facts, all of them 0.866
# (`python -m lab.evidence_recall`); docs/generation.md has the rest.
PER_RANK = (10, 4, 3, 2, 2)


@dataclass(frozen=True)
class Evidence:
    """One citable unit: a run of consecutive sentences from one retrieved paper."""

    n: int  # the evidence number the model cites
    source: int  # the paper's position in the retrieval (1-based): its citation number
    text: str
    relevance: float


def units_of(sentences: Sequence[str], picked: Sequence[int]) -> list[tuple[int, int]]:
    """One unit per picked sentence, in abstract order, as [start, end): a sentence that leans on
    the one before it brings that one along, unless it is a unit of its own or a question.
    No sentence is in two units, so a unit stays one or two sentences long."""
    chosen = set(picked)
    taken: set[int] = set()
    out = []
    for i in sorted(chosen):
        before = i - 1
        leans = leans_back(sentences, i) and before not in chosen and before not in taken
        start = before if leans else i
        taken.update(range(start, i + 1))
        out.append((start, i + 1))
    return out


def choose_evidence(
    extractor: Extractor,
    hits: Sequence[Hit],
    question: str,
    max_units: int,
    per_rank: Sequence[int] = PER_RANK,
) -> list[Evidence]:
    """Number the sentences of `hits` that best answer `question`, round-robin across the
    papers (best first), and keep the first `max_units`."""
    if not hits:
        return []
    bank = extractor.bank
    qvec = bank.texts([question])[0]
    weights = {t: extractor.idf(t) for t in dict.fromkeys(query_terms(question))}
    topical = bool(weights)
    units: list[tuple[int, str, float]] = []
    for source, sents in enumerate(bank.for_papers([h.paper for h in hits]), 1):
        scored, relevance = extractor.score(sents, qvec, weights, topical)
        order = sorted(range(len(scored)), key=lambda i: -scored[i])
        take = per_rank[min(source, len(per_rank)) - 1]
        picked = [i for i in order[:take] if not sents.sentences[i].rstrip().endswith("?")]
        rank = {i: r for r, i in enumerate(order)}
        for a, b in sorted(units_of(sents.sentences, picked), key=lambda u: rank[u[1] - 1]):
            text = " ".join(sents.sentences[a:b])
            units.append((source, text, max(relevance[a:b])))
    return [
        Evidence(n, source, text, round(rel, 3))
        for n, (source, text, rel) in enumerate(interleave(units)[:max_units], 1)
    ]


def interleave(units: Sequence[tuple[int, str, float]]) -> list[tuple[int, str, float]]:
    """Each paper's best unit first, then each one's second, and so on (papers in rank order,
    each paper's units best first): a small model copies from the top, so a list answer
    covers the papers rather than only the first one's sentences."""
    place: dict[int, int] = {}
    keyed = []
    for unit in units:
        place[unit[0]] = place.get(unit[0], -1) + 1
        keyed.append((place[unit[0]], unit[0], unit))
    return [unit for *_, unit in sorted(keyed, key=lambda k: (k[0], k[1]))]
