"""Small text helpers shared by loaders, chunker, retriever and answerer."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_LATEX_FORMAT = re.compile(r"\\(?:text(?:it|bf|tt|sc|rm)|emph|mathrm|mathbf)\{([^{}]*)\}")
_SPACE = re.compile(r"\s+")
_ABBREVIATIONS = (
    "e.g.",
    "i.e.",
    "et al.",
    "etc.",
    "vs.",
    "cf.",
    "fig.",
    "figs.",
    "eq.",
    "sec.",
    "approx.",
    "resp.",
    "no.",
    "dr.",
    "mr.",
    "ms.",
    "st.",
    "incl.",
)
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9\\])")


def clean(text: str) -> str:
    """Collapse whitespace and drop simple LaTeX formatting commands."""
    text = unicodedata.normalize("NFKC", text)
    for _ in range(2 if "\\" in text else 0):  # nested \textbf{\textit{x}}
        text = _LATEX_FORMAT.sub(r"\1", text)
    return " ".join(text.split())  # what `\s+` -> " " and strip() give, several times faster


def fingerprint(abstract: str) -> str:
    """Return a stable paper id from the abstract's normalised content."""
    norm = re.sub(r"[^0-9a-z]+", " ", clean(abstract).lower()).strip()
    return hashlib.sha1(norm.encode("utf-8")).hexdigest()[:16]


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences, keeping abbreviations and decimals intact."""
    parts: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        candidate = text[start : match.start()].rstrip()
        last_word = candidate.rsplit(" ", 1)[-1].lower()
        if last_word.endswith(_ABBREVIATIONS):
            continue
        parts.append(text[start : match.end()].strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        parts.append(tail)
    return [p for p in parts if p]


def derive_title(abstract: str, max_chars: int = 90) -> str:
    """Make a short display title from an abstract's first sentence."""
    sentences = split_sentences(abstract)
    first = sentences[0] if sentences else abstract
    first = first.rstrip(" .")
    if len(first) <= max_chars:
        return first
    cut = first[:max_chars].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def person_name(last_first: str) -> str:
    """Turn 'Leong, Chak Tou' into 'Chak Tou Leong'."""
    if "," not in last_first:
        return clean(last_first)
    last, first = (p.strip() for p in last_first.split(",", 1))
    return f"{first} {last}".strip()


def fold(text: str) -> str:
    """Lower-case and strip accents, for matching names and titles."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return _SPACE.sub(" ", re.sub(r"[^0-9a-z]+", " ", text.lower())).strip()


def author_list(authors: tuple[str, ...] | list[str], limit: int) -> str:
    """Join the first `limit` author names, adding "et al." when there are more."""
    shown = ", ".join(authors[:limit])
    return shown + (" et al." if len(authors) > limit else "")
