"""Shared pieces of the loaders: the draft record, skip reasons, decoding."""

from __future__ import annotations

import codecs
import io
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from rag.records import Paper
from rag.text import clean, derive_title

MIN_ABSTRACT_CHARS = 80
MAX_ABSTRACT_CHARS = 20_000  # the longest real abstracts are ~5,000 characters
MAX_TITLE_CHARS = 1_000
MAX_FILE_BYTES = 200 * 1024 * 1024  # for layouts read whole; JSON lines and arrays stream
MAX_LINE_BYTES = 1_000_000  # 50x the longest abstract: no JSON line of a record is this long
HEAD_BYTES = 65536  # what layout detection reads of a file
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


def split(items: Iterable[Draft | Skip]) -> tuple[list[Draft], list[Skip]]:
    """Separate a parser's records into drafts and skips, each in file order."""
    drafts: list[Draft] = []
    skips: list[Skip] = []
    for item in items:
        (drafts if isinstance(item, Draft) else skips).append(item)  # type: ignore[arg-type]
    return drafts, skips


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


def _regular_size(path: Path) -> int:
    """The size of a regular file; UnreadableFile for anything else."""
    try:
        info = path.stat()
    except OSError as exc:
        raise UnreadableFile(f"cannot read: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableFile("not a regular file")
    return info.st_size


def _check_binary(head: bytes) -> None:
    """Raise UnreadableFile when a file's first bytes say it is not text."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            raise UnreadableFile(f"binary file ({kind}); export its text first")
    if b"\x00" in head[:_SNIFF_BYTES]:
        raise UnreadableFile("binary file (contains NUL bytes)")


def read_head(path: Path) -> tuple[int, bytes]:
    """A regular file's size and its first HEAD_BYTES; UnreadableFile for anything else."""
    size = _regular_size(path)
    try:
        with path.open("rb") as handle:
            return size, handle.read(HEAD_BYTES)
    except OSError as exc:
        raise UnreadableFile(f"cannot read: {exc.strerror or exc}") from exc


def decode_head(head: bytes) -> str:
    """A file's first bytes decoded leniently, for layout detection; UnreadableFile if binary."""
    _check_binary(head)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return head[: len(head) // 2 * 2].decode("utf-16", errors="replace")
    return head.decode("utf-8", errors="replace").removeprefix("\ufeff")


def sniff(path: Path) -> tuple[int, str]:
    """A file's size and its first HEAD_BYTES decoded leniently, for layout detection.

    Raises UnreadableFile for what is not a regular text file (missing, special, binary).
    Reads no more than the head, whatever the file's size.
    """
    size, head = read_head(path)
    return size, decode_head(head)


def decode_file(path: Path) -> Decoded:
    """Decode a whole file as UTF-8, BOM-marked UTF-16, or (with a note) Windows-1252 text.

    Raises UnreadableFile for anything that is not a regular text file: missing, special,
    over MAX_FILE_BYTES, binary (NUL bytes, known magic numbers), or undecodable.
    """
    size = _regular_size(path)
    if size > MAX_FILE_BYTES:
        raise UnreadableFile(
            f"file too large ({size / 2**20:,.0f} MB; the limit is "
            f"{MAX_FILE_BYTES // 2**20} MB for layouts read whole; JSON lines and JSON arrays "
            "have none); split it into smaller files or convert it to JSONL"
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(f"cannot read: {exc.strerror or exc}") from exc
    except MemoryError:
        raise UnreadableFile("not enough memory to read it; split it into smaller files") from None
    _check_binary(raw[:_SNIFF_BYTES])
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return Decoded(text=raw.decode("utf-16"))
        except UnicodeDecodeError as exc:
            raise UnreadableFile(
                f"has a UTF-16 byte-order mark but is not valid UTF-16 (offset {exc.start})"
            ) from None
    notes: list[str] = []
    nuls = raw.count(b"\x00")
    if nuls:
        raw = raw.replace(b"\x00", b"")
        notes.append(_nul_note(nuls))
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
    notes.append(_legacy_note(legacy))
    return Decoded(text=text, notes=tuple(notes))


def _nul_note(nuls: int) -> str:
    return f"removed {nuls:,} NUL bytes (the file looks partly corrupted)"


def _legacy_note(legacy: list[int]) -> str:
    where = f"lines {_ranges(legacy)}" if len(legacy) < 20 else f"{len(legacy):,} lines"
    return (
        f"not UTF-8; {where} decoded as Windows-1252/Latin-1, the rest as UTF-8 (re-save it as "
        "UTF-8 if accents look wrong)"
    )


class LineReader:
    """A file's lines one at a time, each decoded on its own: memory holds one line, not the file.

    A line is UTF-8 where it is valid UTF-8, else Windows-1252/Latin-1 (files pasted together
    mix encodings); a file with a UTF-16 byte-order mark is read as UTF-16. A line longer than
    MAX_LINE_BYTES is read through in pieces and comes out as a Skip, never held whole. NUL
    bytes are removed. `notes()` tells, once read, what was assumed; `position` is the number
    of bytes read so far (for progress).
    """

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._utf16 = handle.peek(2)[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # type: ignore[attr-defined]
        self._text = io.TextIOWrapper(handle, "utf-16", newline="\n") if self._utf16 else None
        self.legacy: list[int] = []
        self.nuls = 0

    @property
    def position(self) -> int:
        """Bytes of the file read so far."""
        return self._handle.tell()

    def notes(self) -> tuple[str, ...]:
        """What decoding assumed, one note each (NUL bytes removed, legacy lines)."""
        return tuple(
            note
            for note in (
                _nul_note(self.nuls) if self.nuls else "",
                _legacy_note(self.legacy) if self.legacy else "",
            )
            if note
        )

    def _readline(self) -> bytes:
        if self._text is None:
            return self._handle.readline(MAX_LINE_BYTES + 1)
        return self._text.readline(MAX_LINE_BYTES + 1).encode("utf-8", "surrogatepass")

    def __iter__(self) -> Iterator[tuple[int, str] | Skip]:
        n = 0
        while True:
            try:
                raw = self._readline()
            except UnicodeDecodeError:
                yield Skip(n + 1, "not valid UTF-16 from this line on; the rest is not read")
                return
            if not raw:
                return
            n += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                length = len(raw)
                while raw and not raw.endswith(b"\n"):  # read through, never hold it
                    raw = self._readline()
                    length += len(raw)
                yield Skip(n, f"line too long ({length:,} bytes)")
                continue
            if n == 1:
                raw = raw.removeprefix(codecs.BOM_UTF8)
            if b"\x00" in raw:
                self.nuls += raw.count(b"\x00")
                raw = raw.replace(b"\x00", b"")
            try:
                yield n, raw.decode("utf-8")
                continue
            except UnicodeDecodeError:
                pass
            text = _legacy_text(raw, strict=False)
            if text is None or not _prose(text):
                yield Skip(n, "not UTF-8 text and not readable as Windows-1252 either")
                continue
            self.legacy.append(n)
            yield n, text


class TextReader:
    """A whole file as text read in pieces (`read(n)`), for documents too large to hold.

    UTF-8 (BOM or not) or BOM-marked UTF-16; bytes that are not UTF-8 are read as
    Windows-1252/Latin-1 one by one, and NUL bytes removed, each counted for a note.
    """

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        utf16 = handle.peek(2)[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # type: ignore[attr-defined]
        encoding = "utf-16" if utf16 else "utf-8-sig"
        self._text = io.TextIOWrapper(handle, encoding, errors="surrogateescape", newline="")
        self.legacy = 0
        self.nuls = 0

    @property
    def position(self) -> int:
        """Bytes of the file read so far."""
        return self._handle.tell()

    def notes(self) -> tuple[str, ...]:
        """What decoding assumed, one note each."""
        notes = [_nul_note(self.nuls)] if self.nuls else []
        if self.legacy:
            notes.append(
                f"not UTF-8; {self.legacy:,} bytes decoded as Windows-1252/Latin-1, the rest as "
                "UTF-8 (re-save it as UTF-8 if accents look wrong)"
            )
        return tuple(notes)

    def read(self, size: int) -> str:
        """Up to `size` characters; the empty string at the end of the file."""
        while True:
            try:
                text = self._text.read(size)
            except UnicodeDecodeError:  # UTF-16 only: utf-8 errors are escaped
                raise UnreadableFile(
                    f"not valid UTF-16 in the piece read up to byte {self.position:,}; the "
                    "records before that piece were read"
                ) from None
            if "\x00" in text:
                self.nuls += text.count("\x00")
                text = text.replace("\x00", "")
                if not text:  # a piece of NULs only: not the end of the file
                    continue
            return _ESCAPED.sub(self._legacy, text)

    def _legacy(self, match: re.Match[str]) -> str:
        raw = bytes(ord(c) - 0xDC00 for c in match.group())
        self.legacy += len(raw)
        return _legacy_text(raw, strict=False) or ""


_ESCAPED = re.compile("[\udc80-\udcff]+")  # bytes that surrogateescape kept from a non-UTF-8 file


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
