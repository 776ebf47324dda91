"""Evaluation metrics as pure functions (no index, no model): easy to unit-test.

Rankings are described by `ranks`: the 0-based positions at which a question's distinct gold
papers appear in a ranked list (a gold paper that was not retrieved has no rank). All metrics
are at the paper level and binary (a paper is gold or not).

- recall@k (capped): gold papers in the top k / min(#gold, k), so a question with ten gold
  papers can still score 1.0 at k=5.
- all-gold@k: 1.0 when every gold paper is in the top k, else 0.0 (impossible when #gold > k).
- MRR@k: 1 / (1 + rank of the first gold paper) when it is in the top k, else 0.0.
- nDCG@k: binary-gain DCG over the top k divided by the ideal DCG of min(#gold, k) hits.

Own code, not ranx or pytrec_eval: capped recall@k and all-gold@k are not trec_eval measures
(its recall divides by every relevant paper), and gold papers are matched by id, title or
abstract prefix here, so a library would cover two of the four and add a dependency.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol


class PaperLike(Protocol):
    """What gold matching reads from a paper (rag.records.Paper fits)."""

    @property
    def id(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def abstract(self) -> str: ...


MIN_PREFIX = 40


def norm(text: str) -> str:
    """Collapse whitespace (gold prefixes and answer facts are compared after this)."""
    return " ".join(text.split())


def matches(gold: str, paper: PaperLike) -> bool:
    """Tell whether a gold entry names this paper (id, exact title, or 40+ char abstract prefix)."""
    return gold in (paper.id, paper.title) or (
        len(norm(gold)) >= MIN_PREFIX and norm(paper.abstract).startswith(norm(gold))
    )


def gold_ranks(ranked: Sequence[PaperLike], gold: Sequence[str]) -> list[int]:
    """Return the 0-based ranks of the distinct gold papers found in a ranked list."""
    return [i for i, paper in enumerate(ranked) if any(matches(g, paper) for g in gold)]


def is_gold(paper: PaperLike, gold: Sequence[str]) -> bool:
    """Tell whether a paper is one of the gold papers."""
    return any(matches(g, paper) for g in gold)


def recall_at_k(ranks: Iterable[int], n_gold: int, k: int) -> float:
    """Capped recall: gold papers in the top k out of min(n_gold, k)."""
    if n_gold <= 0 or k <= 0:
        return 0.0
    return sum(r < k for r in ranks) / min(n_gold, k)


def all_gold_at_k(ranks: Iterable[int], n_gold: int, k: int) -> float:
    """1.0 when every gold paper is in the top k, else 0.0."""
    if n_gold <= 0:
        return 0.0
    return float(sum(r < k for r in ranks) >= n_gold)


def mrr_at_k(ranks: Iterable[int], k: int = 10) -> float:
    """Reciprocal rank of the first gold paper within the top k (0.0 if none)."""
    first = min((r for r in ranks if r < k), default=None)
    return 0.0 if first is None else 1.0 / (first + 1)


def ndcg_at_k(ranks: Iterable[int], n_gold: int, k: int = 10) -> float:
    """Binary-gain nDCG over the top k."""
    if n_gold <= 0 or k <= 0:
        return 0.0
    dcg = sum(1.0 / math.log2(r + 2) for r in set(ranks) if r < k)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(n_gold, k)))
    return dcg / ideal


def citation_precision(cited_is_gold: Sequence[bool]) -> float | None:
    """Share of the cited papers that are gold; None when nothing was cited."""
    if not cited_is_gold:
        return None
    return sum(cited_is_gold) / len(cited_is_gold)


def citation_recall(n_gold_cited: int, n_gold: int, k: int) -> float:
    """Gold papers cited out of min(n_gold, k), capped like recall@k (at most 1.0)."""
    if n_gold <= 0 or k <= 0:
        return 0.0
    return min(1.0, n_gold_cited / min(n_gold, k))


def fact_coverage(answer: str, facts: Sequence[str]) -> tuple[float, list[str]]:
    """Share of facts found in the answer (case-insensitive, whitespace-normalised) + misses."""
    if not facts:
        return 1.0, []
    text = norm(answer).casefold()
    missing = [f for f in facts if norm(f).casefold() not in text]
    return 1 - len(missing) / len(facts), missing


@dataclass(frozen=True)
class Abstention:
    """Abstention as a detector of unanswerable questions (positive = abstained)."""

    tp: int  # unanswerable, abstained
    fp: int  # answerable, abstained
    fn: int  # unanswerable, answered
    tn: int  # answerable, answered

    @property
    def precision(self) -> float | None:
        """Abstentions that were on unanswerable questions; None when nothing abstained."""
        flagged = self.tp + self.fp
        return self.tp / flagged if flagged else None

    @property
    def recall(self) -> float | None:
        """Unanswerable questions that abstained; None when there are none."""
        positives = self.tp + self.fn
        return self.tp / positives if positives else None


def abstention(pairs: Iterable[tuple[bool, bool]]) -> Abstention:
    """Count (should_abstain, abstained) pairs into a confusion matrix."""
    tp = fp = fn = tn = 0
    for should, did in pairs:
        if should and did:
            tp += 1
        elif did:
            fp += 1
        elif should:
            fn += 1
        else:
            tn += 1
    return Abstention(tp, fp, fn, tn)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation, like numpy's default."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    data = sorted(values)
    pos = (len(data) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the defined values; None when there are none."""
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_MARKER = re.compile(r"\s*\[(\d+)\]")


def cited_claims(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """Split an answer into cited claims: (text without markers, cited source numbers).

    A claim is a sentence that carries citation markers, together with the uncited sentences
    just before it on the same line (an extractive bullet cites its last sentence only).
    Sentences after the last marker of a line are uncited and left out.
    """
    out = []
    for line in text.splitlines():
        pending: list[str] = []
        for sentence in _SENTENCE.split(line.strip()):
            if not sentence:
                continue
            pending.append(sentence)
            numbers = tuple(dict.fromkeys(int(n) for n in _MARKER.findall(sentence)))
            if numbers:
                claim = norm(_MARKER.sub("", " ".join(pending)))
                out.append((claim, numbers))
                pending = []
    return out
