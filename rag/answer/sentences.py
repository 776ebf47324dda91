"""Abstract sentences and their vectors, embedded on first use and cached per paper.

Both the extractive answerer (which sentence answers the question?) and the claim check
(which sentence supports this claim?) compare texts with abstract sentences. Sentence vectors
are computed per question for the papers retrieved, with the index's own embedder, and kept in
an LRU cache keyed by paper id, so a paper's sentences are embedded once per process.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.embed import Embedder
from rag.records import Paper
from rag.text import split_sentences

CACHE_PAPERS = 4096
CACHE_TEXTS = 512

# A sentence that only makes sense after the one before it: "To address this gap, ...",
# "These questions ...", "Building on this insight, ...", "However, ...".
_DEMONSTRATIVE = re.compile(
    r"\b(?:this|these|those|such|that|the above|the aforementioned)\s+(?:\w+\s+)?"
    r"(?:challenges?|gaps?|questions?|issues?|problems?|limitations?|insights?|observations?"
    r"|phenomen(?:on|a)|end|shortcomings?|concerns?|difficult(?:y|ies)|bottlenecks?"
    r"|drawbacks?|obstacles?|findings?|trade-?offs?|tensions?|goals?)\b",
    re.IGNORECASE,
)
_CONNECTIVE_START = re.compile(
    r"^(?:however|moreover|furthermore|additionally|in addition|therefore|thus|hence|instead"
    r"|consequently|as a result|nevertheless|nonetheless|in contrast|conversely|yet|still"
    r"|to this end|based on this|building on this|motivated by this|inspired by this"
    r"|(?:it|they|this|these|those|such)\b(?!\s+(?:paper|work|study|article|survey|thesis|report"
    r"|letter|chapter|position paper|technical report)\b))",
    re.IGNORECASE,
)


# Text addressed to a model, not about a paper: instructions, role markers and prompt or
# source fences. An abstract that carries one is cut there: nothing from that point on is
# evidence, an extractive answer or support for a claim (see `trusted_sentences`).
_IMPERATIVE = r"(?:^|[:.!;\"'“(]\s*|\bnote\W+|\bplease\s+)"  # where a command starts
_INJECTION = re.compile(
    r"</?\s*(?:source|system|assistant|user|instructions?|im_start|im_end)\b[^>]{0,80}>"
    r"|<\|[a-z_]{2,20}\|>|\[/?INST\]|```|\{\s*\"(?:claims|answer|text)\"\s*:"
    rf"|{_IMPERATIVE}(?:ignore|disregard|forget)\b"
    rf"|{_IMPERATIVE}(?:answer|reply|respond|say|output|write)\s+(?:only|exactly)\b"
    r"|\b(?:answer|reply|respond|output)\s+only\s*:"
    r"|\b(?:system|developer|admin)\s+note\b|^\s*(?:system|assistant|developer)\s*:"
    r"|\byou\s+(?:must|should|are to)\s+(?:now\s+)?"
    r"(?:answer|reply|respond|say|output|ignore|cite)\b"
    r"|\bas an ai\b",
    re.IGNORECASE,
)


def is_instruction(text: str) -> bool:
    """Tell whether text speaks to a model (an instruction, a role or fence marker)."""
    return bool(_INJECTION.search(text))


def trusted_sentences(sentences: Sequence[str]) -> tuple[str, ...]:
    """The sentences before the first one that speaks to a model (all of them if none does)."""
    for i, sentence in enumerate(sentences):
        if is_instruction(sentence):
            return tuple(sentences[:i])
    return tuple(sentences)


def is_dangling(sentence: str) -> bool:
    """Tell whether a sentence leans on the one before it for its meaning."""
    return bool(_DEMONSTRATIVE.search(sentence) or _CONNECTIVE_START.match(sentence.strip()))


def leans_back(sentences: Sequence[str], i: int) -> bool:
    """Tell whether sentence i should be shown with the one before it: it leans on it, and
    that one is no question (a question is never shown as an answer)."""
    return i > 0 and is_dangling(sentences[i]) and not sentences[i - 1].endswith("?")


@dataclass(frozen=True)
class PaperSentences:
    """One paper's abstract split into sentences, with a unit vector per sentence."""

    paper_id: str
    sentences: tuple[str, ...]
    vectors: np.ndarray  # shape (len(sentences), dim), rows normalised


def _sentences_of(paper: Paper) -> tuple[str, ...]:
    """A paper's trusted abstract sentences; its title when none is left."""
    sentences = tuple(split_sentences(paper.abstract)) or (paper.abstract,)
    return trusted_sentences(sentences) or (paper.title or "(no abstract)",)


class SentenceBank:
    """Split and embed abstracts into sentences on demand; cache the results."""

    def __init__(self, embedder: Embedder, max_papers: int = CACHE_PAPERS) -> None:
        self.embedder = embedder
        self.max_papers = max_papers
        self._papers: OrderedDict[str, PaperSentences] = OrderedDict()
        self._texts: OrderedDict[str, np.ndarray] = OrderedDict()
        self._known: dict[str, np.ndarray] = {}  # every cached abstract sentence's vector

    def for_papers(self, papers: Sequence[Paper]) -> list[PaperSentences]:
        """Return the sentences of each paper, embedding those not cached in one batch."""
        missing = [p for p in dict.fromkeys(papers) if p.id not in self._papers]
        split = {p.id: _sentences_of(p) for p in missing}
        texts = [s for p in missing for s in split[p.id]]
        if texts:
            matrix = self._embed(texts)
            start = 0
            for p in missing:
                n = len(split[p.id])
                self._remember(PaperSentences(p.id, split[p.id], matrix[start : start + n]))
                start += n
        out = []
        for p in papers:
            self._papers.move_to_end(p.id)
            out.append(self._papers[p.id])
        return out

    def prefill(self, papers: Sequence[Paper], batch: int = 64) -> int:
        """Embed the sentences of papers not cached yet (up to the cache size); return how many."""
        todo = [p for p in papers if p.id not in self._papers][: self.max_papers]
        for start in range(0, len(todo), batch):
            self.for_papers(todo[start : start + batch])
        return len(todo)

    def texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embed free texts (questions, claims), caching recent ones.

        A text that is an abstract sentence already embedded (an extractive claim, a quote the
        model copied) reuses that sentence's vector.
        """
        missing = [t for t in dict.fromkeys(texts) if t not in self._texts and t not in self._known]
        if missing:
            for t, v in zip(missing, self._embed(missing), strict=True):
                self._texts[t] = v
                if len(self._texts) > CACHE_TEXTS:
                    self._texts.popitem(last=False)
        dim = next(iter(self._texts.values())).shape[0] if self._texts else 0
        if not texts:
            return np.zeros((0, dim), dtype=np.float32)
        return np.stack([self._known[t] if t in self._known else self._texts[t] for t in texts])

    def _embed(self, texts: list[str]) -> np.ndarray:
        matrix = np.asarray(self.embedder.embed_documents(texts), dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.where(norms == 0, 1.0, norms)

    def _remember(self, entry: PaperSentences) -> None:
        self._papers[entry.paper_id] = entry
        self._known.update(zip(entry.sentences, entry.vectors, strict=True))
        while len(self._papers) > self.max_papers:
            _, old = self._papers.popitem(last=False)
            for sentence in old.sentences:
                self._known.pop(sentence, None)
