"""Read corpus files of any supported layout into merged `Paper` records.

Layouts are detected from content, never from file names: see `corpus/README.md`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from rag import identifiers
from rag.errors import one_line
from rag.loaders.base import (
    MAX_ABSTRACT_CHARS,
    MAX_FILE_BYTES,
    Draft,
    Note,
    Skip,
    UnreadableFile,
    decode_file,
)
from rag.loaders.documents import is_ris, parse_json_document, parse_ris
from rag.loaders.seeds import parse_abstract_lines, parse_author_list, parse_daily_page
from rag.loaders.structured import parse_bibtex, parse_csv, parse_jsonl
from rag.records import Paper
from rag.text import fingerprint

__all__ = [
    "MAX_ABSTRACT_CHARS",
    "MAX_FILE_BYTES",
    "FileReport",
    "LoadResult",
    "Skip",
    "detect_layout",
    "load_paths",
    "merge",
    "source_name",
]

Parser = Callable[[str], tuple[list[Draft], list[Skip]]]
_PARSERS: dict[str, Parser] = {
    "jsonl": parse_jsonl,
    "json": parse_json_document,
    "ris": parse_ris,
    "csv": parse_csv,
    "bibtex": parse_bibtex,
    "abstracts": parse_abstract_lines,
    "author-list": parse_author_list,
    "daily-page": parse_daily_page,
}
SUFFIXES = {".txt", ".jsonl", ".json", ".csv", ".tsv", ".bib", ".md", ".ris"}
_JSON_START = re.compile(r'^\[\s*(?:[{\["]|$)')  # `[{`, `[` alone; not a Markdown `[link]`
_ABSTRACT_COLUMNS = {"abstract", "text", "summary", "description", "abstractnote"}


@dataclass(frozen=True)
class FileReport:
    """What one file yielded: its layout, papers found, duplicates merged, lines skipped."""

    path: str
    layout: str
    found: int
    merged: int
    skipped: tuple[Skip, ...]
    error: str | None = None
    notes: tuple[str, ...] = ()

    def warnings(self) -> list[str]:
        """One line per problem: `path: skipped line N: reason`, file errors, decoding notes.

        Every line names the file, and the line number when the problem is a record; no line
        contains a newline, however odd the file name or the reason.
        """
        name = one_line(self.path, 500)
        lines = [f"{name}: note: {one_line(n)}" for n in self.notes]
        if self.error is not None:
            lines.append(f"{name}: skipped file: {one_line(self.error)}")
        lines += [f"{name}: skipped line {s.line}: {one_line(s.reason)}" for s in self.skipped]
        return lines


@dataclass(frozen=True)
class LoadResult:
    """Merged papers from all files plus a report per file."""

    papers: tuple[Paper, ...]
    files: tuple[FileReport, ...]

    @property
    def skipped(self) -> int:
        """Count records skipped and files that could not be read."""
        return sum(len(f.skipped) + (f.error is not None) for f in self.files)


_DETECT_LINES = 2000


def _first_lines(text: str, limit: int) -> list[str]:
    """The first `limit` non-blank lines, stripped, without splitting the whole text."""
    lines: list[str] = []
    start = 0
    while len(lines) < limit and start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        for piece in text[start:end].splitlines():  # also splits on \r, \v, \x1c...
            if piece.strip():
                lines.append(piece.strip())
        start = end + 1
    return lines


def detect_layout(text: str) -> str:
    """Name the layout of a file's text from its content (its first 2,000 lines)."""
    lines = _first_lines(text, _DETECT_LINES)
    if not lines:
        return "empty"
    first = lines[0].lstrip("\ufeff")
    if _JSON_START.match(first) or first == "{":
        return "json"  # one JSON document (CSL-JSON, a pretty-printed array or object)
    if first.startswith("{"):
        return "jsonl"
    if is_ris(first):
        return "ris"
    if first.startswith("@") or any(ln.startswith("@") and "{" in ln for ln in lines[:20]):
        return "bibtex"
    header = first.lower().replace('"', "")
    columns = {c.strip() for c in re.split(r"[,\t]", header)}
    if columns & _ABSTRACT_COLUMNS and ("," in header or "\t" in header) and len(first) < 300:
        return "csv"
    if sum(ln.startswith("Abstract:") for ln in lines) >= max(1, len(lines) // 2):
        return "abstracts"
    if len(lines) >= 4 and _looks_like_author_list(lines):
        return "author-list"
    return "daily-page"


def _looks_like_author_list(lines: list[str]) -> bool:
    from rag.loaders.seeds import is_author_line

    return "," in lines[0] and len(lines[0]) < 80 and is_author_line(lines[2])


def iter_files(paths: Iterable[Path]) -> Iterable[Path]:
    """Expand folders into the corpus files they hold, sorted; pass files through."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in SUFFIXES
                and not p.name.startswith(".")
                and p.name.lower() != "readme.md"
            )
        else:
            yield path


def source_name(path: Path) -> str:
    """Name a file as sources record it: relative to the working folder when inside it."""
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(resolved)


def _markup_kind(text: str) -> str | None:
    """Name the markup a file starts with (HTML, XML), or None for plain text."""
    head = text[:2048].lstrip().lower()
    if head.startswith(("<!doctype html", "<html")) or (
        head.startswith("<") and ("<html" in head or "<body" in head or "<head>" in head)
    ):
        return "an HTML page"
    if head.startswith("<?xml"):
        return "XML"
    return None


def load_file(path: Path) -> tuple[list[Draft], FileReport]:
    """Parse one file; a file that cannot be read yields an error report, not an exception."""
    try:
        decoded = decode_file(path)
    except UnreadableFile as exc:
        return [], FileReport(
            path=str(path), layout="unreadable", found=0, merged=0, skipped=(), error=str(exc)
        )
    text, notes = decoded.text, decoded.notes
    markup = _markup_kind(text)
    if markup:
        error = (
            f"looks like {markup}, not a corpus file; save its text, or export "
            "JSONL/CSV/BibTeX/RIS/CSL-JSON"
        )
        return [], FileReport(
            path=str(path), layout="markup", found=0, merged=0, skipped=(), error=error, notes=notes
        )
    layout = detect_layout(text[:65536])
    too_long: list[Skip] = []
    if layout != "json":  # one JSON document may well be a single huge line
        text, too_long = _drop_long_lines(text)
        layout = detect_layout(text)
    if layout == "empty":
        empty = None if too_long else "file is empty"
        return [], FileReport(
            path=str(path),
            layout=layout,
            found=0,
            merged=0,
            skipped=tuple(too_long),
            error=empty,
            notes=notes,
        )
    drafts, skips = _PARSERS[layout](text)
    del text
    notes += tuple(f"line {s.line}: {s.reason}" for s in skips if isinstance(s, Note))
    skips = [s for s in skips if not isinstance(s, Note)] + too_long
    drafts, dupes = _dedupe(drafts)
    name = source_name(path)
    drafts = [replace(d, source=f"{name}:{d.line}") for d in drafts]
    all_skips = sorted([*skips, *dupes], key=lambda s: s.line)
    report = FileReport(
        path=str(path),
        layout=layout,
        found=len(drafts),
        merged=0,
        skipped=tuple(all_skips),
        notes=notes,
    )
    if not drafts and not all_skips:
        report = replace(report, error=f"no papers found ({layout} layout)")
    return drafts, report


MAX_LINE_CHARS = 1_000_000  # 50x the longest abstract: no layout has a record line this long
_LONG_LINE = re.compile(rf"^[^\n]{{{MAX_LINE_CHARS},}}", re.MULTILINE)


def _drop_long_lines(text: str) -> tuple[str, list[Skip]]:
    """Blank out lines no record can fill, before any parser copies them around.

    Line numbers stay as they were (the newline is kept); each dropped line is one skip.
    """
    parts: list[str] = []
    skips: list[Skip] = []
    pos, line, counted = 0, 1, 0
    for m in _LONG_LINE.finditer(text):
        line += text.count("\n", counted, m.start())
        counted = m.start()
        skips.append(Skip(line=line, reason=f"line too long ({m.end() - m.start():,} characters)"))
        parts.append(text[pos : m.start()])
        pos = m.end()
    if not skips:
        return text, []
    parts.append(text[pos:])
    return "".join(parts), skips


def _dedupe(drafts: list[Draft]) -> tuple[list[Draft], list[Skip]]:
    """Keep the first record of each abstract within one file; later copies are skips."""
    first: dict[str, int] = {}
    kept: list[Draft] = []
    skips: list[Skip] = []
    for draft in drafts:
        key = fingerprint(draft.abstract)
        if key in first:
            skips.append(
                Skip(line=draft.line, reason=f"duplicate of line {first[key]} (same abstract)")
            )
            continue
        first[key] = draft.line
        kept.append(replace(draft, key=key))
    return kept, skips


def load_paths(paths: Iterable[Path]) -> LoadResult:
    """Load every file under `paths` and merge papers that share an abstract."""
    merged: dict[str, Paper] = {}
    reports: list[FileReport] = []
    for path in iter_files(paths):
        drafts, report = load_file(path)
        dupes = 0
        for draft in drafts:
            paper = draft.to_paper(draft.key or fingerprint(draft.abstract))
            if paper.id in merged:
                dupes += 1
                merged[paper.id] = merge(merged[paper.id], paper)
            else:
                merged[paper.id] = paper
        reports.append(replace(report, merged=dupes))
    return LoadResult(papers=tuple(merged.values()), files=tuple(reports))


def merge(a: Paper, b: Paper) -> Paper:
    """Combine two records of the same abstract: real titles, richer metadata, every identifier."""
    title, derived = (a.title, a.title_derived)
    if a.title_derived and not b.title_derived:
        title, derived = (b.title, False)
    return replace(
        a,
        title=title,
        title_derived=derived,
        authors=a.authors if len(a.authors) >= len(b.authors) else b.authors,
        year=a.year or b.year,
        date=a.date or b.date,
        url=a.url or b.url,
        n_authors=a.n_authors or b.n_authors,
        upvotes=a.upvotes if a.upvotes is not None else b.upvotes,
        sources=tuple(dict.fromkeys(a.sources + b.sources)),
        **identifiers.union(a, b),
    )
