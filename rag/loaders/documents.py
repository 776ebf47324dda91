"""Parsers for whole-document formats: a JSON array or object (CSL-JSON, Zotero) and RIS."""

from __future__ import annotations

import json
import re
from typing import Any

from rag.loaders.base import Draft, Note, Skip
from rag.loaders.fields import draft

LIST_KEYS = ("items", "records", "papers", "data", "references", "documents", "corpus")
_WS = re.compile(r"\s*")


def _line_at(text: str, pos: int, known: tuple[int, int]) -> int:
    """Line number of `pos`, counting on from a known (position, line) pair before it."""
    start, line = known
    return line + text.count("\n", start, pos)


def parse_json_document(text: str) -> tuple[list[Draft], list[Skip]]:
    """Parse a JSON array of records, or an object holding one (`items`, `records`...).

    Array items are decoded one at a time, so a broken item costs only itself: reading
    resumes at the next item that starts at the same indentation as the first one.
    """
    start = _WS.match(text).end()  # type: ignore[union-attr]
    if text.startswith("{", start):
        return _object(text, start)
    return _array(text, start + 1)


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
            at = text.find(f'"{key}"') if f'"{key}"' in text else start
            return _array(text, text.index("[", at) + 1)
    result = draft(value, text.count("\n", 0, start) + 1)
    return ([result], []) if isinstance(result, Draft) else ([], [result])


def _array(text: str, pos: int) -> tuple[list[Draft], list[Skip]]:
    decoder = json.JSONDecoder()
    drafts: list[Draft] = []
    skips: list[Skip] = []
    known = (0, 1)
    indent: str | None = None
    n = 0
    while True:
        pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
        if pos >= len(text):
            skips.append(Skip(_line_at(text, pos, known), "the JSON array never closes (]"))
            break
        if text[pos] == "]":
            break
        line = _line_at(text, pos, known)
        known = (pos, line)
        n += 1
        if indent is None:
            indent = text[text.rfind("\n", 0, pos) + 1 : pos]
        try:
            value, end = decoder.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError) as exc:
            msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            skips.append(Skip(line, f"invalid JSON in array item {n} ({msg})"))
            pos = _resync(text, pos + 1, indent)
            if pos < 0:
                break
            continue
        if isinstance(value, dict):
            result = draft(value, line)
            (drafts if isinstance(result, Draft) else skips).append(result)  # type: ignore[arg-type]
        else:
            skips.append(Skip(line, f"array item {n} is not a JSON object"))
        pos = _WS.match(text, end).end()  # type: ignore[union-attr]
        if text.startswith(",", pos):
            pos += 1
        elif not text.startswith("]", pos):
            skips.append(Skip(_line_at(text, pos, known), "expected ',' or ']' after an item"))
            pos = _resync(text, pos, indent)
            if pos < 0:
                break
    return drafts, skips


def _resync(text: str, pos: int, indent: str | None) -> int:
    """Find where the next array item starts (a line with the first item's indentation)."""
    pattern = re.compile(r"\n" + re.escape(indent or "") + r"\{")
    match = pattern.search(text, pos)
    return match.end() - 1 if match else -1


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
                record[last] = f"{record[last]} {line.strip()}"
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
