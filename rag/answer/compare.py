"""Compare the papers an answer cites: one row per paper, each cell a sentence of its abstract.

For every cited paper (numbered as in the answer) the table gives the problem it addresses,
what it proposes and what it reports. Each cell is one sentence of that paper's own abstract,
never generated text, so it holds whichever backend wrote the answer. A sentence is picked by
cue words ("however ... struggle", "we propose", "results show ... 12%"), its position in the
abstract and its similarity to a short description of the aspect (the SentenceBank's vectors).
A cell needs cue evidence: with none, it stays empty (shown "—") rather than holding a
sentence that answers something else. The problem comes before the proposal in the abstract,
the results after it, and no sentence fills two cells.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.answer.references import best_link, cited_papers, md_escape
from rag.answer.sentences import PaperSentences, SentenceBank
from rag.records import Answer, Citation, Paper

EMPTY = "—"
ASPECTS = ("problem", "proposal", "result")
HEADERS = {
    "problem": "Problem addressed",
    "proposal": "What it proposes",
    "result": "What it reports",
}

# What each aspect reads like, for the similarity part of the score.
_PROTOTYPES = {
    "problem": "However, existing methods struggle with this challenge, a key limitation that "
    "remains an open problem.",
    "proposal": "In this paper, we propose a novel method and framework that introduces a new "
    "approach.",
    "result": "Experiments show that our method outperforms strong baselines and improves "
    "accuracy by 10% on benchmarks.",
}
_CUES = {
    "problem": re.compile(
        r"\b(challeng\w*|problem\w*|issue\w*|difficult\w*|risk\w*|inconsisten\w*|degrad\w*"
        r"|question)\b",
        re.IGNORECASE,
    ),
    "proposal": re.compile(
        r"\b(we (?:first |then |further )?(?:propose|introduce|present|develop|design|build"
        r"|construct|create|formulate|devise|leverage|put forward|curate|release)"
        r"|this (?:paper|work|study) (?:proposes|introduces|presents|develops)"
        r"|in this (?:paper|work|study)|our (?:method|approach|framework|model|system)"
        r"|(?:called|named|dubbed|termed)\b|novel|framework)\b",
        re.IGNORECASE,
    ),
    "result": re.compile(
        r"\b(results?|experiments?|experimental|evaluations?|outperform\w*|surpass\w*"
        r"|improv\w*|achiev\w*|reduc\w*|boost\w*|gains?|state-of-the-art|sota|speed-?ups?"
        r"|demonstrat\w*|we (?:find|show|observe|report)|show(?:s|ed)? that|findings?"
        r"|significant\w*|effective\w*|superior|competitive)\b"
        r"|\d+(?:\.\d+)?\s*(?:%|x\b|×|points?\b)",
        re.IGNORECASE,
    ),
}
# A problem stated outright: a contrast, a shortcoming, an open question. Weak cues alone
# ("challenges", "issues") also name problems, unless the sentence praises the field
# ("has emerged as a powerful paradigm", "aims to") rather than finding fault with it.
_FAULT = re.compile(
    r"\b(however|but|yet|nonetheless|nevertheless|despite|although|struggl\w*|suffer\w*"
    r"|lack\w*|fail\w*|cannot|unable|limitation\w*|limited|bottleneck\w*|hinder\w*|gaps?"
    r"|remains?|unclear|elusive|underexplored|overlook\w*|neglect\w*|insufficient|costly"
    r"|expensive|inefficien\w*|vulnerab\w*|prone|raises? (?:a|an|the) (?:\w+ )?question)\b",
    re.IGNORECASE,
)
_PRAISE = re.compile(
    r"\b((?:has|have) (?:emerged|become|shown|demonstrated|achieved|gained)|powerful"
    r"|promising|remarkable|impressive|aims? to)\b",
    re.IGNORECASE,
)
# Future work and advice are no finding, no problem the paper addresses and no proposal.
_OUTLOOK = re.compile(
    r"\b(future (?:work|research|studies|directions?)|we (?:encourage|hope|call for|urge)"
    r"|code (?:is|and \w+ (?:are|is)) (?:publicly )?available|available at)\b",
    re.IGNORECASE,
)
# Cue weight (any match), then the weight of each further match, position and similarity.
CUE = 1.0
FAULT = 0.3  # a problem stated outright beats one only named
MORE_CUES = 0.15
POSITION = 0.3
SIMILARITY = 0.5
MIN_WORDS = 6


@dataclass(frozen=True)
class Row:
    """One cited paper in the comparison: its number in the answer and one sentence per aspect
    (None when the abstract has no sentence for it)."""

    n: int
    title: str
    year: int | None
    link: str | None
    problem: str | None
    proposal: str | None
    result: str | None

    def cell(self, aspect: str) -> str | None:
        """The sentence chosen for an aspect (one of ASPECTS), or None."""
        value: str | None = getattr(self, aspect)
        return value


_COMPARE = re.compile(
    r"\b(compar\w*|contrast\w*|differ\w*|versus|vs\.?|which (?:papers|works|studies|methods"
    r"|approaches)|what (?:papers|works|studies)|papers? (?:that|which|on|about))\b",
    re.IGNORECASE,
)


def wants_comparison(question: str) -> bool:
    """Tell whether a question asks to compare papers or which papers do something."""
    return bool(_COMPARE.search(question or ""))


class Comparer:
    """Fill comparison rows from abstract sentences (vectors from a SentenceBank)."""

    def __init__(self, bank: SentenceBank) -> None:
        self.bank = bank

    def rows(self, answer: Answer) -> list[Row]:
        """One row per paper the answer cites, in citation order."""
        pairs = [(c, p) for c, p in cited_papers(answer) if p is not None]
        if not pairs:
            return []
        protos = self.bank.texts([_PROTOTYPES[a] for a in ASPECTS])
        sentences = self.bank.for_papers([p for _, p in pairs])
        return [_row(c, p, s, protos) for (c, p), s in zip(pairs, sentences, strict=True)]


def _row(citation: Citation, paper: Paper, sents: PaperSentences, protos: np.ndarray) -> Row:
    chosen = choose(sents, protos)
    return Row(
        n=citation.n,
        title=paper.title,
        year=paper.year,
        link=best_link(paper),
        problem=chosen.get("problem"),
        proposal=chosen.get("proposal"),
        result=chosen.get("result"),
    )


def choose(sents: PaperSentences, protos: np.ndarray) -> dict[str, str]:
    """Pick each aspect's sentence: the proposal first, then the problem before it and the
    results after it; an aspect without a cue-bearing sentence is left out."""
    n = len(sents.sentences)
    sims = sents.vectors @ protos.T  # (n sentences, 3 aspects)
    picked: dict[str, int] = {}
    for aspect in ("proposal", "problem", "result"):
        col = ASPECTS.index(aspect)
        anchor = picked.get("proposal")
        scored: list[tuple[float, int]] = []
        for i, sentence in enumerate(sents.sentences):
            if i in picked.values() or (aspect != "proposal" and not _in_order(aspect, i, anchor)):
                continue
            score = _score(aspect, sentence, i, n, float(sims[i, col]))
            if score is not None:
                scored.append((score, -i))
        if scored:
            picked[aspect] = -max(scored)[1]
    return {a: sents.sentences[i] for a, i in picked.items()}


def _in_order(aspect: str, i: int, proposal: int | None) -> bool:
    """The problem is stated before the proposal, the results after it."""
    if proposal is None:
        return True
    return i < proposal if aspect == "problem" else i > proposal


def _score(aspect: str, sentence: str, i: int, n: int, sim: float) -> float | None:
    """Score a sentence for an aspect, or None when it bears none of the aspect's cues."""
    if len(sentence.split()) < MIN_WORDS:
        return None
    cues = len(_CUES[aspect].findall(sentence))
    stated = 0.0
    if aspect == "problem":
        faults = len(_FAULT.findall(sentence))
        if not faults and _PRAISE.search(sentence):
            return None
        cues += faults
        stated = FAULT * bool(faults)
    if not cues or _OUTLOOK.search(sentence):
        return None
    where = i / max(n - 1, 1)  # 0 = first sentence, 1 = last
    fit = {"problem": 1.0 - where, "proposal": 1.0 - abs(where - 0.45), "result": where}[aspect]
    return CUE + stated + MORE_CUES * min(cues - 1, 3) + POSITION * fit + SIMILARITY * sim


def _md_cell(text: str) -> str:
    return md_escape(" ".join(text.split()))


def to_markdown(rows: Sequence[Row]) -> str:
    """The comparison as a Markdown table, titles linked, each cell cited `[n]`."""
    head = ["#", "Paper", "Year", *(HEADERS[a] for a in ASPECTS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        title = _md_cell(r.title) or EMPTY
        if r.link:
            title = f"[{title}](<{r.link.replace('>', '%3E')}>)"
        cells = [
            f"{_md_cell(text)} [{r.n}]" if text else EMPTY for text in (r.cell(a) for a in ASPECTS)
        ]
        year = str(r.year) if r.year else EMPTY
        lines.append("| " + " | ".join([f"[{r.n}]", title, year, *cells]) + " |")
    return "\n".join(lines) + "\n"


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: str) -> str:
    """Neutralise a cell a spreadsheet would run as a formula (leading = + - @ tab CR)."""
    return "'" + value if value.startswith(_FORMULA) else value


def to_csv(rows: Sequence[Row]) -> str:
    """The comparison as CSV (RFC 4180 quoting, formula-looking cells neutralised)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["n", "title", "year", "link", *ASPECTS])
    for r in rows:
        texts = [" ".join((r.cell(a) or "").split()) for a in ASPECTS]
        fields = [r.title, str(r.year or ""), r.link or "", *texts]
        writer.writerow([str(r.n), *(csv_safe(f) for f in fields)])
    return out.getvalue()
