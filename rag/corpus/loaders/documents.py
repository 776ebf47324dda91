"""Parsers for whole-document formats: a JSON array or object (CSL-JSON, Zotero) and RIS."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from rag.corpus.loaders.base import Draft, Note, Skip, split
from rag.corpus.loaders.fields import draft

LIST_KEYS = ("items", "records", "papers", "data", "references", "documents", "corpus")
_WS = re.compile(r"\s*")
CHUNK_CHARS = 1 << 20  # read a streamed array a mebibyte at a time
MAX_ITEM_CHARS = 1_000_000  # an array item is decoded within this much text, or skipped


def parse_json_document(text: str) -> tuple[list[Draft], list[Skip]]:
    """Parse a JSON array of records, or an object holding one (`items`, `records`...)."""
    start = _WS.match(text).end()  # type: ignore[union-attr]
    if text.startswith("{", start):
        return _object(text, start)
    return split(parse_json_array(io.StringIO(text).read))


def _object(text: str, start: int) -> tuple[list[Draft], list[Skip]]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], [Skip(exc.lineno, f"invalid JSON ({exc.msg}, column {exc.colno})")]
    except RecursionError:
        return [], [Skip(1, "invalid JSON (nested too deeply)")]
    low = {str(k).lower(): v for k, v in value.items()}
    for key in LIST_KEYS:
        if isinstance(low.get(key), list):
            at = text.index("[", text.find(f'"{key}"') if f'"{key}"' in text else start)
            stream = io.StringIO(text)
            stream.seek(at)
            return split(parse_json_array(stream.read, text.count("\n", 0, at) + 1))
    result = draft(value, text.count("\n", 0, start) + 1)
    return ([result], []) if isinstance(result, Draft) else ([], [result])


class _Window:
    """The part of a text stream being parsed: consumed text is dropped as reading goes on."""

    def __init__(self, read: Callable[[int], str], line: int) -> None:
        self.read = read
        self.text = ""
        self.pos = 0
        self.eof = False
        self.known = (0, line)  # a (position, line number) pair at or before pos

    def more(self) -> bool:
        """Read the next piece, dropping the text before pos; False at the end of the stream."""
        if self.eof:
            return False
        piece = self.read(CHUNK_CHARS)
        if not piece:
            self.eof = True
            return False
        line = self.line_at(self.pos)
        self.text = self.text[self.pos :] + piece
        self.pos, self.known = 0, (0, line)
        return True

    def skip_space(self) -> bool:
        """Move pos past whitespace; False when the stream ends first."""
        while True:
            self.pos = _WS.match(self.text, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.text):
                return True
            if not self.more():
                return False

    def line_at(self, pos: int) -> int:
        """The line number of `pos` (at or after the last position asked about)."""
        start, line = self.known
        line += self.text.count("\n", start, pos)
        self.known = (pos, line)
        return line

    def decode(self, decoder: json.JSONDecoder) -> tuple[Any, str | None]:
        """Decode the value at pos, reading on while it may be cut off: (value, None) or error."""
        while True:
            try:
                value, end = decoder.raw_decode(self.text, self.pos)
                if end < len(self.text) or self.eof:
                    self.pos = end
                    return value, None
            except json.JSONDecodeError as exc:
                error = exc.msg
            except RecursionError:
                error = "nested too deeply"
            if len(self.text) - self.pos > MAX_ITEM_CHARS or not self.more():
                return None, error

    def resync(self, indent: str) -> bool:
        """Move to the next line that starts an item at the first item's indentation."""
        pattern = re.compile(r"\n" + re.escape(indent) + r"\{")
        start = self.pos + 1
        while True:
            match = pattern.search(self.text, start)
            if match:
                self.pos = match.end() - 1
                return True
            self.pos = max(self.pos, len(self.text) - len(indent) - 2)
            if not self.more():
                return False
            start = self.pos


def parse_json_array(read: Callable[[int], str], line: int = 1) -> Iterator[Draft | Skip]:
    """Parse a JSON array of records item by item from a text stream (`read(n)`).

    Only the item being decoded is held (plus a read-ahead piece), so an array of any size
    streams. A broken item costs only itself: reading resumes at the next item that starts
    at the same indentation as the first one. `line` is the line the stream starts on.
    """
    window = _Window(read, line)
    if not window.skip_space() or window.text[window.pos] != "[":
        yield Skip(window.line_at(window.pos), "not a JSON array")
        return
    window.pos += 1
    decoder = json.JSONDecoder()
    indent: str | None = None
    n = 0
    while True:
        if not window.skip_space():
            yield Skip(window.line_at(window.pos), "the JSON array never closes (])")
            return
        if window.text[window.pos] == "]":
            return
        at = window.line_at(window.pos)
        n += 1
        if indent is None:
            indent = window.text[window.text.rfind("\n", 0, window.pos) + 1 : window.pos]
        value, error = window.decode(decoder)
        if error is not None:
            yield Skip(at, f"invalid JSON in array item {n} ({error})")
            if not window.resync(indent):
                return
            continue
        yield (
            draft(value, at)
            if isinstance(value, dict)
            else Skip(at, f"array item {n} is not a JSON object")
        )
        if not window.skip_space():
            continue  # reported as never closing at the top of the loop
        if window.text.startswith(",", window.pos):
            window.pos += 1
        elif not window.text.startswith("]", window.pos):
            yield Skip(window.line_at(window.pos), "expected ',' or ']' after an item")
            if not window.resync(indent):
                return


_RIS_LINE = re.compile(r"^([A-Z][A-Z0-9])\s{1,2}-(?:\s(.*)|\s*)$")
_RIS_FIELDS = {
    "TI": "title",
    "T1": "title",
    "CT": "title",
    "AB": "abstract",
    "N2": "abstract",
    "AU": "author",
    "A1": "author",
    "PY": "year",
    "Y1": "year",
    "DA": "date",
    "DO": "doi",
    "UR": "url",
    "ID": "id",
}


def is_ris(first_line: str) -> bool:
    """Tell whether a file's first non-blank line opens an RIS record (`TY  - JOUR`)."""
    match = _RIS_LINE.match(first_line)
    return bool(match) and match.group(1) == "TY"  # type: ignore[union-attr]


# Own parser, not rispy (0.10, tried): rispy silently loses the record after one missing its ER
# and gives no line numbers for warnings; this one keeps both and names the line.
def parse_ris(text: str) -> tuple[list[Draft], list[Skip]]:
    """Parse RIS records (`TY  -` ... `ER  -`); a record missing its ER ends at the next TY."""
    drafts: list[Draft] = []
    skips: list[Skip] = []
    record: dict[str, Any] | None = None
    start = 0
    last: str | None = None
    orphan = False

    def close(ended: bool, at: int) -> None:
        assert record is not None
        if not ended:
            skips.append(Note(start, f"record has no ER tag (ended at line {at})"))
        result = draft(record, start)
        (drafts if isinstance(result, Draft) else skips).append(result)  # type: ignore[arg-type]

    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not line.strip():
            continue
        match = _RIS_LINE.match(line.lstrip("\ufeff"))
        if not match:
            if record is not None and last:  # a wrapped value goes on
                record[last] = f"{record.get(last, '')} {line.strip()}".strip()
            continue
        tag, value = match.group(1), (match.group(2) or "").strip()
        if tag == "TY":
            if record is not None:
                close(False, n)
            record, start, last, orphan = {"type": value}, n, None, False
        elif tag == "ER":
            if record is not None:
                close(True, n)
            record, last = None, None
        elif record is None:
            if not orphan:
                skips.append(Skip(n, f"RIS field {tag} outside a record (no TY line before it)"))
            orphan = True
        elif tag in _RIS_FIELDS:
            _add(record, _RIS_FIELDS[tag], value)
            last = _RIS_FIELDS[tag] if _RIS_FIELDS[tag] != "author" else None
    if record is not None:
        close(False, len(text.splitlines()))
    return drafts, skips


def _add(record: dict[str, Any], name: str, value: str) -> None:
    """Set a field from an RIS line: authors accumulate, the first title/abstract/url wins."""
    if name == "author":
        record.setdefault("author", []).append(value)
    elif name not in record and value:
        record[name] = value
