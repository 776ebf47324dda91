"""Claim-level grounding: every claim of an answer checked against the retrieved abstracts.

An answer is split into claims (sentences, or list items' sentences). Each claim is scored
against every sentence of every retrieved abstract: cosine similarity of the bundled
embedder's vectors plus IDF-weighted term overlap, with numbers the source does not state
counting against it. Then, deterministically and with no second LLM call:

- a claim whose cited source supports it keeps that citation, with the supporting sentence
  as its quote;
- a claim without a citation that one source clearly supports gets that citation ("added");
- a claim whose cited sources do not support it, while another source clearly does, is
  re-cited ("recited");
- a claim nothing supports loses its citations and is marked unsupported;
- lines that are no claims (a lead-in ending in ":", a bare title, a pasted source header,
  citation markers alone) are kept or dropped but never counted as support.

`verdict` then says whether the result is an answer at all (see `Grounded.usable`).
Thresholds were set on the dev set; see docs/grounding.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.answer.sentences import SentenceBank
from rag.index.lexical import tokenize
from rag.records import Claim, Hit
from rag.text import fold, split_sentences

# Support score = W_COS * cosine + W_SENTENCE * overlap with the sentence
#               + W_PAPER * overlap with the whole abstract (title included).
W_COS = 0.6
W_SENTENCE = 0.25
W_PAPER = 0.15
SUPPORTED = 0.55  # a cited source whose best sentence scores this is taken as support
CLEAR = 0.62  # a source must score this to be added to, or substituted into, a claim
MIN_CLAIM_WORDS = 3
UNSUPPORTED_MARK = "(unsupported)"
PASTED_RUN = 3  # this many verbatim sentences in a row from one abstract is a paste
ECHO_SHARE = 0.8  # a sentence this much made of one source's header words is no claim
_FILLER = {"et", "al", "and", "by", "source", "paper", "title", "authors", "the", "a", "of", "in"}

_MARKER = re.compile(r"\s*\[(\d{1,3})\]")
_LIST_PREFIX = re.compile(r"^(\s*(?:[-*•+]|\d{1,2}[.)])\s+)")
_LABEL = re.compile(r"^\s*(?:\*\*[^*]{1,300}\*\*|__[^_]{1,300}__)\s*[:—–-]?\s*")
_NAME = re.compile(r"\b[A-Z][\w'-]*")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?![\w])")
_WORDS = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")


@dataclass(frozen=True)
class Grounded:
    """An answer after the claim check: rewritten text, claims and what was found."""

    text: str
    claims: tuple[Claim, ...]

    @property
    def pasted(self) -> int:
        """The longest run of claims copied verbatim, one after another, from one abstract."""
        best = run = 0
        previous: int | None = None
        for c in self.claims:
            copied = c.quote is not None and fold(c.text) == fold(c.quote)
            run = run + 1 if copied and c.source == previous else int(copied)
            previous = c.source if copied else None
            best = max(best, run)
        return best

    @property
    def supported(self) -> int:
        """How many claims a source supports."""
        return sum(1 for c in self.claims if c.supported)

    @property
    def unsupported(self) -> int:
        """How many claims nothing supports (shown marked)."""
        return sum(1 for c in self.claims if not c.supported)

    def problem(self, quoting: bool = False) -> str | None:
        """Say why this is not an answer to show, or None when it is one.

        Not an answer: no claim at all (empty, markers only, titles or pasted headers only),
        a pasted abstract, no supported claim, or fewer supported claims than unsupported ones
        (a ramble). With `quoting` (the model was given chosen evidence sentences, never a
        whole abstract) copying them verbatim is a grounded answer, not a paste.
        """
        if not self.claims:
            return "the model's reply made no claim (only titles, markers or pasted sources)"
        if not quoting and self.pasted >= PASTED_RUN:
            return "the model's reply pastes a source's abstract instead of answering"
        if not self.supported:
            return "no claim in the model's reply is supported by the sources"
        if self.unsupported > self.supported:
            return (
                f"most claims in the model's reply are not supported by the sources "
                f"({self.unsupported} of {len(self.claims)})"
            )
        return None


@dataclass(frozen=True)
class _Sentence:
    prefix: str  # list marker and bold label, shown as written
    body: str  # the claim text without markers
    cited: tuple[int, ...]
    end: str  # final punctuation


def _split_line(line: str) -> tuple[str, list[str]]:
    """Split a line into its list marker and bold label, and the sentences after them."""
    prefix = ""
    m = _LIST_PREFIX.match(line)
    if m:
        prefix, line = m.group(1).lstrip(), line[m.end() :]
    m = _LABEL.match(line)
    if m and _MARKER.sub("", line[m.end() :]).strip():
        prefix, line = prefix + m.group(0), line[m.end() :]
    return prefix, split_sentences(line.strip())


def _parse(sentence: str, prefix: str = "") -> _Sentence:
    cited = tuple(dict.fromkeys(int(n) for n in _MARKER.findall(sentence)))
    text = _MARKER.sub("", sentence).strip()
    end = text[-1] if text.endswith((".", "!", "?")) else ""
    return _Sentence(prefix, text[: len(text) - len(end)].strip(), cited, end)


def _parse_line(line: str) -> list[_Sentence]:
    prefix, sentences = _split_line(line)
    if not sentences:
        return [_parse(prefix)] if prefix.strip() else []
    return [_parse(s, prefix if i == 0 else "") for i, s in enumerate(sentences)]


def _source_text(hit: Hit, sentences: Sequence[str]) -> str:
    """What a source states: title, its trusted abstract sentences, authors and year."""
    p = hit.paper
    return " ".join([p.title, *sentences, " ".join(p.authors), str(p.year or "")])


def _names(body: str) -> set[str]:
    """The terms of a claim's capitalised words (names, acronyms, methods).

    Like a number, each must be in the source: "Napoleon invented X" is not supported by an
    abstract about X that never names Napoleon, however close the rest of the words are.
    """
    return {t for word in _NAME.findall(body) for t in tokenize(word)}


def _is_claim(s: _Sentence, echo: float) -> bool:
    """A claim: not a lead-in, not a question, at least MIN_CLAIM_WORDS words, not a source
    header's words."""
    if s.body.endswith(":") or s.end == "?" or len(_WORDS.findall(s.body)) < MIN_CLAIM_WORDS:
        return False
    return echo < ECHO_SHARE


def _echo_share(body: str, hits: Sequence[Hit]) -> float:
    """Share of a sentence's words found in one source's header (title, authors, year)."""
    words = fold(body).split()
    if not words:
        return 1.0
    best = 0.0
    for h in hits:
        p = h.paper
        header = set(fold(" ".join([p.title, *p.authors, str(p.year or "")])).split()) | _FILLER
        best = max(best, sum(w in header for w in words) / len(words))
    return best


class ClaimChecker:
    """Scores claims against the retrieved abstracts' sentences."""

    def __init__(self, bank: SentenceBank, idf: Callable[[str], float]) -> None:
        self.bank = bank
        self.idf = idf

    def check(self, text: str, hits: Sequence[Hit]) -> Grounded:
        """Split an answer into claims, score each, and rewrite its citations."""
        parsed = [
            [(s, _echo_share(s.body, hits)) for s in _parse_line(line)]
            for line in text.strip().splitlines()
        ]
        bodies = [s.body + s.end for line in parsed for s, echo in line if _is_claim(s, echo)]
        scores = self._scores(bodies, hits) if bodies and hits else None
        claims: list[Claim] = []
        out_lines: list[str] = []
        for line in parsed:
            rendered: list[str] = []
            for s, echo in line:
                if not _is_claim(s, echo):
                    if s.body and s.end != "?" and (s.body.endswith(":") or echo < 1.0):
                        rendered.append(f"{s.prefix}{s.body}{s.end}")
                    continue
                claim = self._judge(s, scores[len(claims)] if scores else [])
                claims.append(claim)
                rendered.append(claim.display)
            if rendered:
                out_lines.append(" ".join(rendered))
            elif not line:
                out_lines.append("")
        body = re.sub(r"\n{3,}", "\n\n", "\n".join(out_lines)).strip()
        return Grounded(body, tuple(claims))

    def _scores(self, bodies: list[str], hits: Sequence[Hit]) -> list[list[tuple[float, str]]]:
        """Best (score, sentence) per source for every claim: shape [claim][source]."""
        vectors = self.bank.texts(bodies)
        papers = self.bank.for_papers([h.paper for h in hits])
        out: list[list[tuple[float, str]]] = [[] for _ in bodies]
        weights = [{t: self.idf(t) for t in dict.fromkeys(tokenize(b))} for b in bodies]
        names = [_names(b) for b in bodies]
        for hit, sents in zip(hits, papers, strict=True):
            cos = vectors @ sents.vectors.T  # [claims, sentences]
            source = _source_text(hit, sents.sentences)
            source_terms, source_numbers = set(tokenize(source)), set(_NUMBER.findall(source))
            sentence_terms = [set(tokenize(s)) for s in sents.sentences]
            for i, body in enumerate(bodies):
                terms = weights[i]
                paper = _overlap(terms, source_terms)
                numbers_ok = set(_NUMBER.findall(body)) <= source_numbers
                numbers_ok = numbers_ok and names[i] <= source_terms
                best = (-1.0, "")
                for j, sentence in enumerate(sents.sentences):
                    score = (
                        W_COS * float(cos[i, j])
                        + W_SENTENCE * _overlap(terms, sentence_terms[j])
                        + W_PAPER * paper
                    )
                    if not numbers_ok:  # a number or name the source does not state
                        score -= 0.3
                    if score > best[0]:
                        best = (score, sentence)
                out[i].append(best)
        return out

    @staticmethod
    def _judge(s: _Sentence, row: list[tuple[float, str]]) -> Claim:
        """Decide a claim's citations from its best (score, sentence) per source."""
        valid = tuple(n for n in s.cited if 1 <= n <= len(row))
        backing = tuple(n for n in valid if row[n - 1][0] >= SUPPORTED)
        best_n = max(range(1, len(row) + 1), key=lambda n: row[n - 1][0], default=0)
        if backing:
            top = max(backing, key=lambda n: row[n - 1][0])
            status, cites = "cited", backing
        elif best_n and row[best_n - 1][0] >= CLEAR:
            top, cites = best_n, (best_n,)
            status = "recited" if valid else "added"
        else:
            top = best_n
            status, cites = "unsupported", ()
        score, quote = row[top - 1] if top else (0.0, "")
        return Claim(
            text=f"{s.prefix}{s.body}{s.end}",
            citations=cites,
            quote=quote if cites else None,
            source=top if cites else None,
            score=round(max(score, 0.0), 3),
            supported=bool(cites),
            status=status,
            model_citations=s.cited,
            display=_display(s, cites),
        )


def _overlap(weights: dict[str, float], terms: set[str]) -> float:
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in terms) / total if total else 0.0


def _display(s: _Sentence, cites: tuple[int, ...]) -> str:
    markers = "".join(f"[{n}]" for n in cites)
    if not cites:
        return f"{s.prefix}{s.body} {UNSUPPORTED_MARK}{s.end}"
    return f"{s.prefix}{s.body} {markers}{s.end}"
