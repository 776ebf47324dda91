"""Read corpus files of any supported layout into merged `Paper` records.

Layouts are detected from content, never from file names: see `corpus/README.md`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from rag import identifiers
from rag.corpus.loaders.base import (
    MAX_ABSTRACT_CHARS,
    MAX_FILE_BYTES,
    Draft,
    LineReader,
    Note,
    Skip,
    TextReader,
    UnreadableFile,
    decode_file,
    decode_head,
    read_head,
)
from rag.corpus.loaders.formats import (
    BY_NAME,
    FORMATS,
    SUFFIXES,
    Format,
    Head,
    detect_binary,
    detect_text,
    supported,
)
from rag.errors import one_line
from rag.records import Paper
from rag.text import fingerprint

__all__ = [
    "FORMATS",
    "MAX_ABSTRACT_CHARS",
    "MAX_FILE_BYTES",
    "FileReport",
    "FileStream",
    "Format",
    "LoadResult",
    "SUFFIXES",
    "Skip",
    "detect_layout",
    "load_paths",
    "merge",
    "source_name",
    "walk",
]


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
    found = detect_text(_first_lines(text, _DETECT_LINES))
    return found.name if found else "empty"


def walk(paths: Iterable[Path]) -> Iterator[tuple[Path, str | None]]:
    """Expand folders into their files, sorted, each with why it is not read (None: it is).

    Files given by name are read by their content, whatever their name. In a folder, files of
    the supported suffixes are read and the others reported (one line each, never opened);
    hidden files and folders and README.md are left out silently.
    """
    for path in paths:
        if not path.is_dir():
            yield path, None
            continue
        for p in sorted(path.rglob("*")):
            rel = p.relative_to(path).parts
            if any(part.startswith(".") for part in rel) or p.name.lower() == "readme.md":
                continue
            if not p.is_file():
                continue
            yield p, None if p.suffix.lower() in SUFFIXES else unsupported(p)


def unsupported(path: Path) -> str:
    """The one-line reason a file in a folder is not read: its type, and what is."""
    kind = f"'{path.suffix}'" if path.suffix else "no extension"
    return (
        f"not a supported file type ({kind}); read: {supported()} "
        f"({' '.join(sorted(SUFFIXES))}; name a file explicitly to read it by its content)"
    )


def iter_files(paths: Iterable[Path]) -> Iterable[Path]:
    """Expand folders into the corpus files they hold, sorted; pass files through."""
    return (p for p, reason in walk(paths) if reason is None)


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


class FileStream:
    """One file's papers, read as they come: iterate for the drafts, then take `report`.

    JSON lines and JSON arrays stream (`LineReader`, `parse_json_array`): memory holds one
    record, whatever the file's size, and `position` follows the bytes read. Other layouts
    are read whole (up to MAX_FILE_BYTES) and parsed in memory. Either way the drafts are
    deduplicated within the file (a later copy of an abstract is a skip) and named by source.
    """

    def __init__(self, path: Path, refuse: str | None = None) -> None:
        self.path = path
        self._refuse = refuse  # why the file is not to be read (an unsupported type)
        self.size = 0
        self._reader: LineReader | TextReader | None = None
        self._done = False
        self._report: FileReport | None = None
        self._found = 0  # drafts yielded so far
        self._skips: list[Skip] = []
        self._layout = "unreadable"

    @property
    def position(self) -> int:
        """Bytes of the file read so far."""
        if self._reader is not None and not self._done:
            return self._reader.position
        return self.size if self._done else 0

    @property
    def report(self) -> FileReport:
        """What the file yielded; complete once the drafts have all been read."""
        assert self._report is not None, "read the drafts first"
        return self._report

    def _fail(self, layout: str, error: str) -> None:
        """Report a file that could not be read (to the end): what came before it stays."""
        skipped = tuple(sorted(self._skips, key=lambda s: s.line))
        self._report = FileReport(str(self.path), layout, self._found, 0, skipped, error=error)

    def __iter__(self) -> Iterator[Draft]:
        if self._refuse is not None:
            self._fail("unsupported", self._refuse)
            self._done = True
            return
        try:
            self.size, raw = read_head(self.path)
            binary = detect_binary(raw)
            if binary is not None:
                yield from self._binary(binary)
                return
            head = decode_head(raw)
        except UnreadableFile as exc:
            is_binary = str(exc).startswith("binary file")
            self._fail("unreadable", f"{exc} (read: {supported()})" if is_binary else str(exc))
            self._done = True
            return
        markup = _markup_kind(head)
        if markup:
            self._fail(
                "markup",
                f"looks like {markup}, not a corpus file; save its text, or export one of: "
                f"{supported()}",
            )
            self._done = True
            return
        lines = _first_lines(head, _DETECT_LINES)
        fmt = detect_text(lines)
        self._layout = fmt.name if fmt else "empty"
        try:
            if fmt is not None and fmt.stream is not None:
                yield from self._streamed(fmt, Head(lines))
            if self._report is None:  # not streamed (or the format declined this file)
                yield from self._whole()
        except UnreadableFile as exc:
            self._fail(self._layout if self._found else "unreadable", str(exc))
        except OSError as exc:
            self._fail(
                self._layout if self._found else "unreadable",
                f"cannot read: {exc.strerror or exc}",
            )
        finally:
            self._done = True

    def _binary(self, fmt: Format) -> Iterator[Draft]:
        """A binary format (PDF): parsed from the path; a file-level problem is its error."""
        assert fmt.read is not None
        try:
            drafts, skips = fmt.read(self.path)
        except UnreadableFile as exc:
            self._fail(fmt.name, str(exc))
        else:
            yield from self._records(fmt.name, iter([*skips, *drafts]), lambda: ())
        finally:
            self._done = True

    def _streamed(self, fmt: Format, head: Head) -> Iterator[Draft]:
        assert fmt.stream is not None
        with self.path.open("rb") as handle:
            streamed = fmt.stream(handle, head)
            if streamed is None:
                return
            self._reader, self._layout = streamed.reader, streamed.layout
            yield from self._records(streamed.layout, streamed.items, streamed.reader.notes)

    def _whole(self) -> Iterator[Draft]:
        decoded = decode_file(self.path)
        text, notes = decoded.text, decoded.notes
        layout = detect_layout(text[:65536])
        too_long: list[Skip] = []
        if layout != "json":  # one JSON document may well be a single huge line
            text, too_long = _drop_long_lines(text)
            layout = detect_layout(text)
        if layout == "empty":
            self._report = FileReport(
                str(self.path),
                layout,
                0,
                0,
                tuple(too_long),
                error=None if too_long else "file is empty",
                notes=notes,
            )
            return
        parse = BY_NAME[layout].parse
        assert parse is not None
        drafts, skips = parse(text)
        del text
        yield from self._records(layout, iter([*skips, *too_long, *drafts]), lambda: notes)

    def _records(
        self, layout: str, items: Iterator[Draft | Skip], notes: Callable[[], tuple[str, ...]]
    ) -> Iterator[Draft]:
        """Dedupe and name the parsed records, collecting skips and notes for the report."""
        first: dict[str, int] = {}
        skips = self._skips
        marks: list[str] = []
        name = source_name(self.path)
        for item in items:
            if isinstance(item, Note):
                marks.append(f"line {item.line}: {item.reason}")
            elif isinstance(item, Skip):
                skips.append(item)
            else:
                key = fingerprint(item.abstract)
                if key in first:
                    reason = f"duplicate of line {first[key]} (same abstract)"
                    skips.append(Skip(line=item.line, reason=reason))
                    continue
                first[key] = item.line
                self._found += 1
                yield replace(item, key=key, source=f"{name}:{item.line}")
        self._report = FileReport(
            path=str(self.path),
            layout=layout,
            found=len(first),
            merged=0,
            skipped=tuple(sorted(skips, key=lambda s: s.line)),
            notes=notes() + tuple(marks),
            error=None if first or skips else f"no papers found ({layout} layout)",
        )


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


def load_paths(paths: Iterable[Path]) -> LoadResult:
    """Load every file under `paths` and merge papers that share an abstract (all in memory)."""
    merged: dict[str, Paper] = {}
    reports: list[FileReport] = []
    for path, refuse in walk(paths):
        stream = FileStream(path, refuse)
        dupes = 0
        for draft in stream:
            paper = draft.to_paper(draft.key)
            if paper.id in merged:
                dupes += 1
                merged[paper.id] = merge(merged[paper.id], paper)
            else:
                merged[paper.id] = paper
        reports.append(replace(stream.report, merged=dupes))
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
