"""Parsers for the formats users bring: JSONL, CSV/TSV and BibTeX."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping

from rag.loaders.base import Draft, Skip, check_abstract
from rag.text import person_name

_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")


def _authors(value: object) -> tuple[str, ...]:
    """Accept a list of names or a string separated by ';', ' and ' or ','."""
    if isinstance(value, list):
        return tuple(str(v).strip() for v in value if str(v).strip())
    text = str(value or "").strip()
    if not text:
        return ()
    if ";" in text or " and " in text:
        parts = re.split(r";| and ", text)
        return tuple(person_name(p) for p in (p.strip() for p in parts) if p)
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _year(value: object) -> int | None:
    match = _YEAR.search(str(value or ""))
    return int(match.group(1)) if match else None


def _draft(record: Mapping[str, object], line: int) -> Draft | Skip:
    """Validate one structured record and build its draft."""
    lowered = {str(k).strip().lower(): v for k, v in record.items() if k is not None}
    abstract = str(lowered.get("abstract") or "").strip()
    problem = check_abstract(abstract)
    if problem:
        return Skip(line, problem)
    url = str(lowered.get("url") or lowered.get("doi") or "").strip() or None
    return Draft(
        line=line,
        title=str(lowered.get("title") or "").strip() or None,
        abstract=abstract,
        authors=_authors(lowered.get("authors") or lowered.get("author")),
        year=_year(lowered.get("year") or lowered.get("date")),
        url=url,
    )


def _collect(items: list[Draft | Skip]) -> tuple[list[Draft], list[Skip]]:
    return ([d for d in items if isinstance(d, Draft)], [s for s in items if isinstance(s, Skip)])


def parse_jsonl(text: str) -> tuple[list[Draft], list[Skip]]:
    """Parse one JSON object per line; bad lines are skipped with their line number."""
    items: list[Draft | Skip] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            items.append(Skip(n, f"invalid JSON ({exc.msg})"))
            continue
        if not isinstance(record, dict):
            items.append(Skip(n, "line is not a JSON object"))
            continue
        items.append(_draft(record, n))
    return _collect(items)


def parse_csv(text: str) -> tuple[list[Draft], list[Skip]]:
    """Parse a CSV or TSV file with a header row that names an 'abstract' column."""
    dialect = "excel-tab" if text.split("\n", 1)[0].count("\t") > 0 else "excel"
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    items: list[Draft | Skip] = []
    try:
        for row in reader:
            line = reader.line_num
            if None in row:
                items.append(Skip(line, "more fields than the header has"))
            elif any(v is None for v in row.values()):
                items.append(Skip(line, "fewer fields than the header has"))
            else:
                items.append(_draft(row, line))
    except csv.Error as exc:
        items.append(Skip(reader.line_num, f"malformed CSV ({exc})"))
    return _collect(items)


_ENTRY = re.compile(r"@(\w+)\s*\{", re.MULTILINE)


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
        fields[name] = re.sub(r"[{}]", "", value).strip()
        pos = body.find(",", pos)
        if pos < 0:
            break
        pos += 1
    return fields


def _entry_body(text: str, open_brace: int) -> str | None:
    """Return the text inside an entry's outer braces, or None if they never close."""
    depth = 0
    for i in range(open_brace, len(text)):
        depth += text[i] == "{"
        depth -= text[i] == "}"
        if depth == 0:
            return text[open_brace + 1 : i]
    return None


def parse_bibtex(text: str) -> tuple[list[Draft], list[Skip]]:
    """Parse BibTeX entries that carry an `abstract` field."""
    items: list[Draft | Skip] = []
    for m in _ENTRY.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        if m.group(1).lower() in {"comment", "preamble", "string"}:
            continue
        body = _entry_body(text, m.end() - 1)
        if body is None:
            items.append(Skip(line, "unbalanced braces: the entry never closes"))
            break
        fields = _bib_fields(body)
        if "author" in fields:
            fields["authors"] = fields.pop("author")
        items.append(_draft(fields, line))
    return _collect(items)
