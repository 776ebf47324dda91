"""Read corpus files of any supported layout into merged `Paper` records.

Layouts are detected from content, never from file names: see `corpus/README.md`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from rag.loaders.base import Draft, Skip, UnreadableFile, read_text
from rag.loaders.seeds import parse_abstract_lines, parse_author_list, parse_daily_page
from rag.loaders.structured import parse_bibtex, parse_csv, parse_jsonl
from rag.records import Paper
from rag.text import fingerprint

__all__ = [
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
    "csv": parse_csv,
    "bibtex": parse_bibtex,
    "abstracts": parse_abstract_lines,
    "author-list": parse_author_list,
    "daily-page": parse_daily_page,
}
SUFFIXES = {".txt", ".jsonl", ".json", ".csv", ".tsv", ".bib", ".md"}


@dataclass(frozen=True)
class FileReport:
    """What one file yielded: its layout, papers found, duplicates merged, lines skipped."""

    path: str
    layout: str
    found: int
    merged: int
    skipped: tuple[Skip, ...]
    error: str | None = None


@dataclass(frozen=True)
class LoadResult:
    """Merged papers from all files plus a report per file."""

    papers: tuple[Paper, ...]
    files: tuple[FileReport, ...]

    @property
    def skipped(self) -> int:
        """Count records skipped and files that could not be read."""
        return sum(len(f.skipped) + (f.error is not None) for f in self.files)


def detect_layout(text: str) -> str:
    """Name the layout of a file's text from its content."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return "empty"
    first = lines[0]
    if first.startswith("{"):
        return "jsonl"
    if first.startswith("@") or any(ln.startswith("@") and "{" in ln for ln in lines[:20]):
        return "bibtex"
    header = first.lower().replace('"', "")
    if "abstract" in header and ("," in header or "\t" in header) and len(first) < 300:
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


def load_file(path: Path) -> tuple[list[Draft], FileReport]:
    """Parse one file; a file that cannot be read yields an error report, not an exception."""
    try:
        text = read_text(path)
    except UnreadableFile as exc:
        return [], FileReport(str(path), "unreadable", 0, 0, (), error=str(exc))
    layout = detect_layout(text)
    if layout == "empty":
        return [], FileReport(str(path), layout, 0, 0, (), error="file is empty")
    drafts, skips = _PARSERS[layout](text)
    name = source_name(path)
    drafts = [replace(d, source=f"{name}:{d.line}") for d in drafts]
    report = FileReport(str(path), layout, len(drafts), 0, tuple(skips))
    if not drafts and not skips:
        report = replace(report, error=f"no papers found ({layout} layout)")
    return drafts, report


def load_paths(paths: Iterable[Path]) -> LoadResult:
    """Load every file under `paths` and merge papers that share an abstract."""
    merged: dict[str, Paper] = {}
    reports: list[FileReport] = []
    for path in iter_files(paths):
        drafts, report = load_file(path)
        dupes = 0
        for draft in drafts:
            paper = draft.to_paper(fingerprint(draft.abstract))
            if paper.id in merged:
                dupes += 1
                merged[paper.id] = merge(merged[paper.id], paper)
            else:
                merged[paper.id] = paper
        reports.append(replace(report, merged=dupes))
    return LoadResult(tuple(merged.values()), tuple(reports))


def merge(a: Paper, b: Paper) -> Paper:
    """Combine two records of the same abstract, preferring real titles and richer metadata."""
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
    )
