"""Shared pieces of the loaders: the draft record, skip reasons, decoding."""

from __future__ import annotations

import codecs
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from rag.records import Paper
from rag.text import clean, derive_title

MIN_ABSTRACT_CHARS = 80
MAX_ABSTRACT_CHARS = 20_000  # the longest real abstracts are ~5,000 characters
MAX_TITLE_CHARS = 1_000
MAX_FILE_BYTES = 200 * 1024 * 1024  # refused before reading: a corpus file, not a data dump
_SNIFF_BYTES = 4096
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # never part of prose
_MAGIC = {
    b"%PDF-": "a PDF",
    b"PK\x03\x04": "a ZIP archive (or .docx/.xlsx)",
    b"\x1f\x8b": "gzip-compressed",
    b"\xfd7zXZ": "xz-compressed",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"SQLite format 3": "an SQLite database",
}


class UnreadableFile(Exception):
    """A file that is not text we can decode."""


@dataclass(frozen=True)
class Skip:
    """A record a loader skipped, with the line it started on and why."""

    line: int
    reason: str


class Note(Skip):
    """A problem in a record that was still read (e.g. an RIS record without its ER tag)."""


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
    key: str = ""  # the abstract's fingerprint, once computed
    doi: str | None = None
    arxiv_id: str | None = None
    source_id: str | None = None

    def to_paper(self, paper_id: str) -> Paper:
        """Build the Paper record, deriving a title when the file gave none."""
        abstract = clean(_CONTROL.sub(" ", self.abstract))
        title = clean(_CONTROL.sub(" ", self.title or ""))
        return Paper(
            id=paper_id,
            title=title or derive_title(abstract),
            abstract=abstract,
            authors=tuple(a for a in (clean(_CONTROL.sub(" ", x)) for x in self.authors) if a),
            year=self.year,
            date=self.date,
            url=self.url,
            title_derived=not title,
            n_authors=self.n_authors or (len(self.authors) or None),
            upvotes=self.upvotes,
            sources=(self.source,) if self.source else (),
            doi=self.doi,
            arxiv_id=self.arxiv_id,
            source_ids=(self.source_id,) if self.source_id else (),
        )


def check_abstract(abstract: str) -> str | None:
    """Return why an abstract is unusable, or None when it is fine."""
    if len(abstract) > 4 * MAX_ABSTRACT_CHARS:  # don't normalise megabytes just to reject them
        return _too_long(len(abstract))
    text = clean(abstract)
    if not text:
        return "empty abstract"
    if len(text) < MIN_ABSTRACT_CHARS:
        return f"abstract too short ({len(text)} characters)"
    if len(text) > MAX_ABSTRACT_CHARS:
        return _too_long(len(text))
    return None


def _too_long(n: int) -> str:
    return f"too long to be an abstract ({n:,} characters; the limit is {MAX_ABSTRACT_CHARS:,})"


@dataclass(frozen=True)
class Decoded:
    """A file's text plus notes on how it was decoded (e.g. a legacy encoding was assumed)."""

    text: str
    notes: tuple[str, ...] = ()


def decode_file(path: Path) -> Decoded:
    """Decode a file as UTF-8, BOM-marked UTF-16, or (with a note) Windows-1252 text.

    Raises UnreadableFile for anything that is not a regular text file: missing, special,
    over MAX_FILE_BYTES, binary (NUL bytes, known magic numbers), or undecodable.
    """
    try:
        info = path.stat()
    except OSError as exc:
        raise UnreadableFile(f"cannot read: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableFile("not a regular file")
    if info.st_size > MAX_FILE_BYTES:
        raise UnreadableFile(
            f"file too large ({info.st_size / 2**20:,.0f} MB; the limit is "
            f"{MAX_FILE_BYTES // 2**20} MB); split it into smaller files"
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(f"cannot read: {exc.strerror or exc}") from exc
    except MemoryError:
        raise UnreadableFile("not enough memory to read it; split it into smaller files") from None
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return Decoded(text=raw.decode("utf-16"))
        except UnicodeDecodeError as exc:
            raise UnreadableFile(
                f"has a UTF-16 byte-order mark but is not valid UTF-16 (offset {exc.start})"
            ) from None
    head = raw[:_SNIFF_BYTES]
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            raise UnreadableFile(f"binary file ({kind}); export its text first")
    if b"\x00" in head:
        raise UnreadableFile("binary file (contains NUL bytes)")
    notes: list[str] = []
    nuls = raw.count(b"\x00")
    if nuls:
        raw = raw.replace(b"\x00", b"")
        notes.append(f"removed {nuls} NUL bytes (the file looks partly corrupted)")
    try:
        return Decoded(text=raw.decode("utf-8-sig"), notes=tuple(notes))
    except UnicodeDecodeError as exc:
        bad_at = exc.start
    text, legacy = _mixed_text(raw)
    if text is None:
        raise UnreadableFile(
            f"not UTF-8 text (bad byte at offset {bad_at}) and not readable as Windows-1252 "
            "either; re-save it as UTF-8"
        )
    where = f"lines {_ranges(legacy)}" if len(legacy) < 20 else f"{len(legacy):,} lines"
    notes.append(
        f"not UTF-8 (bad byte at offset {bad_at}); {where} decoded as Windows-1252/Latin-1, "
        "the rest as UTF-8 (re-save it as UTF-8 if accents look wrong)"
    )
    return Decoded(text=text, notes=tuple(notes))


def _mixed_text(raw: bytes) -> tuple[str | None, list[int]]:
    """Decode line by line: UTF-8 where a line is valid UTF-8, else single-byte legacy text.

    Files pasted together from several sources mix encodings; decoding the whole file as
    Windows-1252 would garble every UTF-8 line. Returns the text and the legacy lines.
    """
    parts: list[str] = []
    legacy: list[int] = []
    for n, line in enumerate(raw.split(b"\n"), 1):
        try:
            parts.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            text = _legacy_text(line, strict=False)
            if text is None:
                return None, legacy
            parts.append(text)
            legacy.append(n)
    text = "\n".join(parts).removeprefix("\ufeff")
    return (text if _prose(text) else None), legacy


def _ranges(lines: list[int]) -> str:
    return ", ".join(str(n) for n in lines)


def _prose(text: str) -> bool:
    sample = text[:200_000]
    odd = sum(1 for c in sample if not (c.isprintable() or c in "\t\n\r\f"))
    return odd <= max(2, len(sample) // 1000)


def _legacy_text(raw: bytes, strict: bool = True) -> str | None:
    """Decode single-byte legacy text (cp1252, else Latin-1) if it reads as prose.

    Own code, not charset-normalizer: lines are decoded one by one (files mix encodings) and a
    per-line detector guesses Baltic code pages on short English text (cp775 for "Müller").
    """
    for encoding in ("cp1252", "latin-1"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if not strict or _prose(text):
            return text
    return None
