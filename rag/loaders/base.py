"""Shared pieces of the loaders: the draft record, skip reasons, decoding."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

from rag.records import Paper
from rag.text import clean, derive_title

MIN_ABSTRACT_CHARS = 80


class UnreadableFile(Exception):
    """A file that is not text we can decode."""


@dataclass(frozen=True)
class Skip:
    """A record a loader skipped, with the line it started on and why."""

    line: int
    reason: str


@dataclass(frozen=True)
class Draft:
    """A paper as one file describes it, before merging and id assignment."""

    line: int
    abstract: str
    title: str | None = None
    authors: tuple[str, ...] = ()
    year: int | None = None
    date: str | None = None
    url: str | None = None
    n_authors: int | None = None
    upvotes: int | None = None
    source: str = ""

    def to_paper(self, paper_id: str) -> Paper:
        """Build the Paper record, deriving a title when the file gave none."""
        abstract = clean(self.abstract)
        title = clean(self.title or "")
        return Paper(
            id=paper_id,
            title=title or derive_title(abstract),
            abstract=abstract,
            authors=tuple(a for a in (clean(x) for x in self.authors) if a),
            year=self.year,
            date=self.date,
            url=self.url,
            title_derived=not title,
            n_authors=self.n_authors or (len(self.authors) or None),
            upvotes=self.upvotes,
            sources=(self.source,) if self.source else (),
        )


def check_abstract(abstract: str) -> str | None:
    """Return why an abstract is unusable, or None when it is fine."""
    text = clean(abstract)
    if not text:
        return "empty abstract"
    if len(text) < MIN_ABSTRACT_CHARS:
        return f"abstract too short ({len(text)} characters)"
    return None


def read_text(path: Path) -> str:
    """Decode a file as UTF-8 (with or without BOM) or BOM-marked UTF-16; reject binary."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(f"cannot read: {exc.strerror or exc}") from exc
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16")
    if b"\x00" in raw[:4096]:
        raise UnreadableFile("binary file (contains NUL bytes)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(
            f"not UTF-8 text (bad byte at offset {exc.start}); re-save it as UTF-8"
        ) from exc
