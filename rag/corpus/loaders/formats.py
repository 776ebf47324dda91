"""The format registry: every file format paperchat reads is one `Format` in `FORMATS`.

A file's format is detected from its content, never its name: the first format in `FORMATS`
whose `detect` accepts the file's head wins. Each `detect` looks for its own format's marks
only; the list order matters just for the catch-all plain-text layout, which is last. Adding a
format is one module with a parser plus one line here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from rag.corpus.loaders.base import Draft, LineReader, Skip, TextReader, split
from rag.corpus.loaders.documents import is_ris, parse_json_array, parse_json_document, parse_ris
from rag.corpus.loaders.pdf import is_pdf, parse_pdf
from rag.corpus.loaders.seeds import (
    is_author_line,
    parse_abstract_lines,
    parse_author_list,
    parse_daily_page,
)
from rag.corpus.loaders.structured import parse_bibtex, parse_csv, parse_jsonl

Parsed = tuple[list[Draft], list[Skip]]


@dataclass(frozen=True)
class Head:
    """What detection sees of a file: its first non-blank lines (stripped) and first bytes."""

    lines: list[str]
    raw: bytes = b""

    @property
    def first(self) -> str:
        """The first non-blank line, without a byte-order mark."""
        return self.lines[0].lstrip("\ufeff") if self.lines else ""


@dataclass(frozen=True)
class Streamed:
    """A file being read record by record: the layout name reports show, the reader, records."""

    layout: str
    reader: LineReader | TextReader
    items: Iterator[Draft | Skip]


@dataclass(frozen=True)
class Format:
    """One file format: how to recognise it and how to read it.

    `parse` reads the whole decoded text (text formats, up to MAX_FILE_BYTES); `stream`, when
    set, reads an open file record by record instead (any size) and may decline a file by
    returning None; `read` is for binary formats, which are parsed from the path and never
    decoded as text.
    """

    name: str
    detect: Callable[[Head], bool]
    suffixes: tuple[str, ...]
    parse: Callable[[str], Parsed] | None = None
    stream: Callable[[BinaryIO, Head], Streamed | None] | None = None
    read: Callable[[Path], Parsed] | None = None

    @property
    def binary(self) -> bool:
        """Whether the format is read from bytes (e.g. PDF), not decoded text."""
        return self.read is not None


_JSON_START = re.compile(r'^\[\s*(?:[{\["]|$)')  # `[{`, `[` alone; not a Markdown `[link]`
_ABSTRACT_COLUMNS = {"abstract", "text", "summary", "description", "abstractnote"}


def _is_json(head: Head) -> bool:
    """One JSON document: an array (CSL-JSON), or a lone `{` opening a pretty-printed object."""
    return bool(_JSON_START.match(head.first)) or head.first == "{"


def _is_jsonl(head: Head) -> bool:
    return head.first.startswith("{") and head.first != "{"


def _is_bibtex(head: Head) -> bool:
    return head.first.startswith("@") or any(
        ln.startswith("@") and "{" in ln for ln in head.lines[:20]
    )


def _is_csv(head: Head) -> bool:
    first = head.first
    header = first.lower().replace('"', "")
    columns = {c.strip() for c in re.split(r"[,\t]", header)}
    return bool(
        columns & _ABSTRACT_COLUMNS and ("," in header or "\t" in header) and len(first) < 300
    )


def _is_abstract_lines(head: Head) -> bool:
    lines = head.lines
    return sum(ln.startswith("Abstract:") for ln in lines) >= max(1, len(lines) // 2)


def _is_author_list(head: Head) -> bool:
    lines = head.lines
    return len(lines) >= 4 and "," in lines[0] and len(lines[0]) < 80 and is_author_line(lines[2])


def _jsonl_text(text: str) -> Parsed:
    """JSON lines already in memory (a file whose head was not JSON lines, e.g. a long line)."""
    return split(parse_jsonl(enumerate(text.split("\n"), 1)))


def _stream_jsonl(handle: BinaryIO, head: Head) -> Streamed:
    lines = LineReader(handle)
    return Streamed("jsonl", lines, parse_jsonl(lines))


def _stream_json(handle: BinaryIO, head: Head) -> Streamed | None:
    """Stream a JSON array item by item; an object (a wrapper of records) is read whole."""
    if not head.first.startswith("["):
        return None
    text = TextReader(handle)
    return Streamed("json array", text, parse_json_array(text.read))


# The first format whose detect accepts a file reads it. daily-page accepts any text: last.
FORMATS: tuple[Format, ...] = (
    Format("pdf", lambda h: is_pdf(h.raw), (".pdf",), read=parse_pdf),
    Format("json", _is_json, (".json",), parse=parse_json_document, stream=_stream_json),
    Format("jsonl", _is_jsonl, (".jsonl",), parse=_jsonl_text, stream=_stream_jsonl),
    Format("ris", lambda h: is_ris(h.first), (".ris",), parse=parse_ris),
    Format("bibtex", _is_bibtex, (".bib",), parse=parse_bibtex),
    Format("csv", _is_csv, (".csv", ".tsv"), parse=parse_csv),
    Format("abstracts", _is_abstract_lines, (".txt", ".md"), parse=parse_abstract_lines),
    Format("author-list", _is_author_list, (".txt", ".md"), parse=parse_author_list),
    Format("daily-page", lambda h: True, (".txt", ".md"), parse=parse_daily_page),
)
BY_NAME = {f.name: f for f in FORMATS}
SUFFIXES = frozenset(s for f in FORMATS for s in f.suffixes)


def detect_binary(raw: bytes) -> Format | None:
    """The binary format a file's first bytes announce (e.g. `%PDF-`), or None."""
    head = Head([], raw)
    return next((f for f in FORMATS if f.binary and f.detect(head)), None)


def detect_text(lines: list[str]) -> Format | None:
    """The text format of a file from its first non-blank lines, or None when there are none."""
    if not lines:
        return None
    head = Head(lines)
    return next((f for f in FORMATS if not f.binary and f.detect(head)), None)


def supported() -> str:
    """Name the formats read, for messages: `PDF, JSON, JSONL, ...`."""
    shown = {"pdf": "PDF", "json": "CSL-JSON/JSON", "jsonl": "JSONL", "ris": "RIS"}
    shown |= {"bibtex": "BibTeX", "csv": "CSV/TSV", "daily-page": "plain-text abstracts"}
    return ", ".join(shown[f.name] for f in FORMATS if f.name in shown)
