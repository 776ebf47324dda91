"""The no-LLM backend: a short cited answer built from the abstracts' own sentences.

Sentences are chosen by their meaning's similarity to the question (the index's embedder on
abstract sentences) together with IDF-weighted term overlap. A sentence that leans on the one
before it ("To address this gap, ...", "these questions") is shown joined with that sentence.
A list answer keeps only the papers whose chosen sentence is itself relevant, ordered by it.
Weights and cut-offs were set on the dev set; see docs/grounding.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.answer.sentences import PaperSentences, SentenceBank, leans_back
from rag.index.lexical import query_terms, tokenize
from rag.records import Hit
from rag.retrieval.retrieve import AUTHOR_BOOST
from rag.text import split_sentences

MAX_PAPERS = 4
QUESTION_PENALTY = 1.0  # a sentence that asks ("How can we ...?") is never the answer
POINTER_PENALTY = 1.0  # nor "Code is available at https://..." unless the question asks for it


@dataclass(frozen=True)
class Weights:
    """How sentences are scored and list answers trimmed (set on the dev set)."""

    cos: float = 1.0  # cosine between the question and the sentence ...
    overlap: float = 0.6  # ... plus the IDF-weighted share of the question's terms in it
    contribution: float = 0.08  # "we propose / we find / this paper": what the paper does
    background: float = 0.3  # sentences before the first contribution: the scene
    min_relevance: float = 0.30  # a listed paper's chosen sentence must score this ...
    list_relative: float = 0.5  # ... and at least this share of the best paper's
    list_cutoff: float = 0.7  # a list question keeps papers within 70% of the best score
    single_cutoff: float = 1.0  # otherwise only the best paper is cited (and ties)


_PLURAL = re.compile(
    r"\b(papers|studies|works|articles|approaches|methods|techniques|list|compare|comparison"
    r"|contrast|which ones|both papers|several papers|any papers|publications)\b",
    re.IGNORECASE,
)
_CONTRIBUTION = re.compile(
    r"\b(we (propose|introduce|present|develop|design|find|show|demonstrate|achieve|reduce"
    r"|improve|outperform|analy[sz]e|study|investigate|examine|evaluate|prove|report|observe"
    r"|identify|reveal|explore)|this (paper|work|study)|in this (paper|work|study)"
    r"|our (method|approach|model|results?|experiments?|analysis|findings))\b",
    re.IGNORECASE,
)

# A pointer to the paper's code or data, not a claim: a link or "... will be released".
_POINTER = re.compile(
    r"https?://|\bwww\.|\\url\{|\b(?:code|data|models?|datasets?|artifacts)\b[^.]*?\b(?:is|are"
    r"|will be)\s+(?:publicly\s+|freely\s+)?(?:available|released|open-sourced)"
    r"(?:\s+(?:at|on|in|via|from|here|soon|upon|online)\b|\s*[.:])",
    re.IGNORECASE,
)
_ASKS_POINTER = frozenset(
    tokenize("code github repository available release download link url open-source")
)

# The literature's state, not the paper's own work: "Recent studies have shown ...",
# "CoT has been proven effective ...", "Despite the success of ...".
_SCENE = re.compile(
    r"^(?:recent(?:ly)?|in recent years|over the past|nowadays|despite|with the (?:rapid|growing"
    r"|increasing|advent)|although)\b|\b(?:has|have) (?:been (?:proven|shown|widely|increasingly)"
    r"|shown|demonstrated|achieved|emerged|gained|become|attracted|made|seen)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Choice:
    """The sentences chosen from one paper, with how relevant they are to the question."""

    hit: Hit
    sentences: tuple[str, ...]
    relevance: float


def is_list_question(question: str) -> bool:
    """Tell whether a question asks about several papers."""
    return bool(_PLURAL.search(question))


class Extractor:
    """Choose each paper's sentences that best answer a question."""

    def __init__(
        self, bank: SentenceBank, idf: Callable[[str], float], weights: Weights = Weights()
    ) -> None:
        self.bank = bank
        self.idf = idf
        self.w = weights

    def select_hits(
        self, hits: tuple[Hit, ...], question: str, author: str | None, topical: bool
    ) -> list[Hit]:
        """Keep the papers close enough to the best one to be part of the answer.

        A question in the plural ("which papers ...") keeps more of them than one about a
        single paper. A question naming an author keeps that author's papers: all of them
        when it asks nothing more, otherwise those that match the rest of the question.
        """
        if not hits:
            return []
        by_author = [h for h in hits if h.matched_author] if author else []
        several = is_list_question(question) or bool(by_author)
        cutoff = self.w.list_cutoff if several else self.w.single_cutoff
        if by_author and not topical:
            return by_author
        pool = by_author or list(hits)
        base = [h.score - (AUTHOR_BOOST if h.matched_author else 0.0) for h in pool]
        chosen = [h for h, b in zip(pool, base, strict=True) if b >= cutoff * max(base)]
        return chosen if by_author else chosen[:MAX_PAPERS]

    def choose(
        self, hits: Sequence[Hit], question: str, topical: bool, per_paper: int = 1
    ) -> list[Choice]:
        """Pick up to `per_paper` sentences from each paper, best papers first."""
        if not hits:
            return []
        qvec = self.bank.texts([question])[0]
        terms = query_terms(question)
        weights = {t: self.idf(t) for t in dict.fromkeys(terms)}
        papers = self.bank.for_papers([h.paper for h in hits])
        return [
            self._choose_one(h, s, qvec, weights, topical, per_paper)
            for h, s in zip(hits, papers, strict=True)
        ]

    def _choose_one(
        self,
        hit: Hit,
        sents: PaperSentences,
        qvec: np.ndarray,
        weights: dict[str, float],
        topical: bool,
        n: int,
    ) -> Choice:
        scored, relevance = self.score(sents, qvec, weights, topical)
        picked = sorted(sorted(range(len(scored)), key=lambda i: -scored[i])[:n])
        texts = [" ".join(sents.sentences[a:b]) for a, b in spans(sents.sentences, picked)]
        best = max((relevance[i] for i in picked), default=0.0)
        return Choice(hit, tuple(texts), best)

    def score(
        self,
        sents: PaperSentences,
        qvec: np.ndarray,
        weights: dict[str, float],
        topical: bool,
    ) -> tuple[list[float], list[float]]:
        """Score every sentence of a paper: (how good an answer line, relevance to the question).

        Relevance is cosine plus IDF-weighted term overlap; the answer score adds what the
        paper does ("we propose ...") and takes off scene-setting, odd lengths, questions (a
        sentence that asks is no answer) and pointers to code or data (unless asked for).
        """
        w = self.w
        cos = sents.vectors @ qvec
        total = sum(weights.values()) or 1.0
        cues = [bool(_CONTRIBUTION.search(sentence)) for sentence in sents.sentences]
        first_cue = cues.index(True) if any(cues) else 1
        pointers = 0.0 if _ASKS_POINTER & weights.keys() else POINTER_PENALTY
        scored, relevance = [], []
        for i, sentence in enumerate(sents.sentences):
            words = set(tokenize(sentence))
            overlap = sum(v for t, v in weights.items() if t in words) / total
            relevance.append(w.cos * float(cos[i]) + w.overlap * overlap)
            scene = i < first_cue or (not cues[i] and bool(_SCENE.search(sentence)))
            extra = w.contribution * cues[i] - w.background * scene
            extra -= 0.0 if 6 <= len(sentence.split()) <= 60 else 0.3
            extra -= QUESTION_PENALTY * sentence.rstrip().endswith("?")
            extra -= pointers * bool(_POINTER.search(sentence))
            scored.append((relevance[i] if topical else 0.0) + extra - 0.005 * i)
        return scored, relevance

    def keep_relevant(self, choices: list[Choice]) -> list[Choice]:
        """Keep the papers whose chosen sentence bears on the question, most relevant first."""
        if len(choices) <= 1:
            return choices
        top = max(c.relevance for c in choices)
        floor = max(self.w.min_relevance, self.w.list_relative * top)
        kept = [c for c in choices if c.relevance >= floor]
        return sorted(kept or choices[:1], key=lambda c: -c.relevance)


def spans(sentences: Sequence[str], picked: Sequence[int]) -> list[tuple[int, int]]:
    """The picked sentences as [start, end) runs: each joined with the one before it when it
    leans on it, overlapping or touching runs merged, so no sentence is said twice."""
    runs: list[tuple[int, int]] = []
    for i in sorted(picked):
        start = i - 1 if leans_back(sentences, i) else i
        if runs and start <= runs[-1][1]:
            runs[-1] = (runs[-1][0], max(runs[-1][1], i + 1))
        else:
            runs.append((start, i + 1))
    return runs


def compose(choices: Sequence[Choice], author: str | None) -> str:
    """Write the answer: one cited line per paper, with a lead line when there are several."""
    if len(choices) == 1:
        return " ".join(cite(sentence, 1) for sentence in choices[0].sentences)
    lead = (
        f"The collection has {len(choices)} papers by {author}:"
        if author
        else f"{len(choices)} papers in the collection bear on this:"
    )
    lines = [
        f"- **{c.hit.paper.title}**: " + " ".join(cite(sentence, i) for sentence in c.sentences)
        for i, c in enumerate(choices, 1)
    ]
    return "\n".join([lead, *lines])


def cite(text: str, n: int) -> str:
    """Cite every sentence of a (possibly joined) quote, marker before the final punctuation."""
    return " ".join(_cite_one(s, n) for s in split_sentences(text) or [text])


def _cite_one(sentence: str, n: int) -> str:
    sentence = sentence.strip()
    if sentence.endswith((".", "!", "?")):
        return f"{sentence[:-1]} [{n}]{sentence[-1]}"
    return f"{sentence} [{n}]"
