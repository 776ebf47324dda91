"""Parsers for JSONL, CSV/TSV and BibTeX; field aliases are in `rag.corpus.loaders.fields`."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator

from rag.corpus.loaders.base import Draft, Skip, split
from rag.corpus.loaders.fields import draft as _draft


def parse_jsonl(lines: Iterable[tuple[int, str] | Skip]) -> Iterator[Draft | Skip]:
    """Parse one JSON object per (line number, line); bad lines become skips with their number.

    Lines come one at a time (from `LineReader`, or a text split in memory) and records leave
    one at a time, so a file of any size is read in the memory of one line. Skips the line
    source made (too long, undecodable) pass through in order.
    """
    for item in lines:
        if isinstance(item, Skip):
            yield item
            continue
        n, line = item
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Skip(line=n, reason=f"invalid JSON ({exc.msg}, column {exc.colno})")
            continue
        except RecursionError:
            yield Skip(line=n, reason="invalid JSON (nested too deeply)")
            continue
        if not isinstance(record, dict):
            yield Skip(line=n, reason="line is not a JSON object")
            continue
        yield _draft(record, n)


def parse_csv(text: str) -> tuple[list[Draft], list[Skip]]:
    """Parse a CSV or TSV file with a header row that names an 'abstract' column.

    A malformed row is skipped with its line number and reading goes on with the next row.
    """
    dialect = "excel-tab" if text.split("\n", 1)[0].count("\t") > 0 else "excel"
    reader = csv.reader(io.StringIO(text), dialect=dialect)
    items: list[Draft | Skip] = []
    header: list[str] | None = None
    while True:
        before = reader.line_num
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            items.append(Skip(line=before + 1, reason=f"malformed CSV ({exc})"))
            if reader.line_num == before:  # nothing consumed: give up rather than loop
                break
            continue
        if not row or not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [h.strip() for h in row]
            continue
        line = before + 1  # where the record starts (a quoted field may span lines)
        if len(row) > len(header):
            items.append(Skip(line=line, reason="more fields than the header has"))
        elif len(row) < len(header):
            items.append(Skip(line=line, reason="fewer fields than the header has"))
        else:
            items.append(_draft(dict(zip(header, row, strict=True)), line))
    return split(items)


_ENTRY = re.compile(r"@(\w+)\s*\{", re.MULTILINE)
_LINE_ENTRY = re.compile(r"^[ \t]*@\w+\s*\{", re.MULTILINE)
_BRACE = re.compile(r"[{}]")


def _bib_fields(body: str) -> dict[str, str]:
    """Read `name = {value}` / `"value"` / bare fields from one entry body."""
    fields: dict[str, str] = {}
    pos = body.find(",") + 1  # skip the citation key
    pattern = re.compile(r"\s*([\w\-]+)\s*=\s*")
    while True:
        m = pattern.match(body, pos)
        if not m:
            break
        name, pos = m.group(1).lower(), m.end()
        if pos < len(body) and body[pos] in '{"':
            close = "}" if body[pos] == "{" else '"'
            depth, start = 0, pos
            while pos < len(body):
                c = body[pos]
                depth += c == "{"
                depth -= c == "}"
                pos += 1
                if (close == "}" and depth == 0) or (close == '"' and c == '"' and pos - 1 > start):
                    break
            value = body[start + 1 : pos - 1]
        else:
            end = body.find(",", pos)
            end = len(body) if end < 0 else end
            value, pos = body[pos:end].strip(), end
        value = re.sub(r"\\([&%$#_])", r"\1", value)  # LaTeX-escaped specials: \& -> &
        fields[name] = re.sub(r"[{}]", "", value).strip()
        pos = body.find(",", pos)
        if pos < 0:
            break
        pos += 1
    return fields


def _entry_body(text: str, open_brace: int, limit: int | None = None) -> str | None:
    """Return the text inside an entry's outer braces, or None if they close not before `limit`."""
    depth = 0
    for m in _BRACE.finditer(text, open_brace, len(text) if limit is None else limit):
        depth += 1 if m.group() == "{" else -1
        if depth == 0:
            return text[open_brace + 1 : m.start()]
    return None


# Own parser, kept for now: bibtexparser 2.1 (tried) recovers from unclosed braces as this does,
# but logs each failure itself and decodes fields differently; switching is left to a later pass.
def parse_bibtex(text: str) -> tuple[list[Draft], list[Skip]]:
    """Parse BibTeX entries that carry an `abstract` field.

    An entry whose braces never close is skipped; reading resumes at the next entry that
    starts a line.
    """
    items: list[Draft | Skip] = []
    line, counted = 1, 0
    resume = 0
    for m in _ENTRY.finditer(text):
        if m.start() < resume:  # an '@word{' inside an entry already read
            continue
        line += text.count("\n", counted, m.start())
        counted = m.start()
        if m.group(1).lower() in {"comment", "preamble", "string"}:
            continue
        nxt = _LINE_ENTRY.search(text, m.end())
        limit = nxt.start() if nxt else len(text)
        body = _entry_body(text, m.end() - 1, limit)
        if body is None:
            items.append(Skip(line=line, reason="unbalanced braces: the entry never closes"))
            resume = limit
            continue
        resume = m.end() + len(body) + 1
        fields: dict[str, object] = dict(_bib_fields(body))
        if "author" in fields:  # BibTeX names are always joined by "and"
            fields["author"] = re.split(r"\s+and\s+", str(fields["author"]).strip())
        if str(fields.get("archiveprefix", "")).lower() != "arxiv":
            fields.pop("eprint", None)
        fields.setdefault("id", body.split(",", 1)[0].strip())  # the citation key
        items.append(_draft(fields, line))
    return split(items)
