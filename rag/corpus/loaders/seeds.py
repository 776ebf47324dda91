"""Parsers for the three plain-text layouts of the seed corpus."""

from __future__ import annotations

import re

from rag.corpus.loaders.base import Draft, Skip, check_abstract
from rag.text import person_name

_NAME_PART = re.compile(r"^[^\W\d][\w.'\- ]{0,40}$")
_BOILERPLATE = {
    "new",
    "get trending papers in your email inbox!",
    "subscribe",
    "daily papers",
    "byak and the research community",
    "·",
}
_DATE = re.compile(r"^([A-Z][a-z]{2}) (\d{1,2})(?:, (\d{4}))?(?: (\d+))?$")
_N_AUTHORS = re.compile(r"^•\s*(\d+)\s+authors?$")


def is_author_line(line: str) -> bool:
    """Tell whether a line reads like 'Last, First, Last, First, ...'."""
    parts = [p.strip() for p in line.split(",")]
    return (
        len(parts) >= 2
        and len(parts) % 2 == 0
        and not line.rstrip().endswith(".")
        and all(_NAME_PART.match(p) and len(p.split()) <= 4 for p in parts)
    )


def parse_authors(line: str) -> tuple[str, ...]:
    """Turn 'Wang, Hanlin, Leong, Chak Tou' into ('Hanlin Wang', 'Chak Tou Leong')."""
    parts = [p.strip() for p in line.split(",")]
    return tuple(person_name(f"{parts[i]}, {parts[i + 1]}") for i in range(0, len(parts) - 1, 2))


def parse_author_list(text: str) -> tuple[list[Draft], list[Skip]]:
    """Parse an author's publication list: the author, then title/authors/abstract lines."""
    lines = [(n, ln.strip()) for n, ln in enumerate(text.splitlines(), 1) if ln.strip()]
    drafts: list[Draft] = []
    skips: list[Skip] = []
    i = 1  # line 0 names the list's author
    while i < len(lines):
        n, title = lines[i]
        authors_line = lines[i + 1][1] if i + 1 < len(lines) else ""
        if is_author_line(authors_line) and i + 2 < len(lines):
            authors, abstract, step = parse_authors(authors_line), lines[i + 2][1], 3
        elif i + 1 < len(lines) and check_abstract(authors_line) is None:
            authors, abstract, step = (), authors_line, 2
        else:
            skips.append(Skip(line=n, reason="expected title, authors and abstract lines"))
            i += 1
            continue
        problem = check_abstract(abstract)
        if problem or len(title) > 400:
            skips.append(Skip(line=n, reason=problem or "title line too long (is it an abstract?)"))
            i += 1
            continue
        drafts.append(Draft(line=n, title=title, authors=authors, abstract=abstract))
        i += step
    return drafts, skips


def _paragraphs(text: str) -> list[tuple[int, list[str]]]:
    """Split text into blank-line separated paragraphs with their first line number."""
    paragraphs: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            if not current:
                start = n
            current.append(line.strip())
        elif current:
            paragraphs.append((start, current))
            current = []
    if current:
        paragraphs.append((start, current))
    return paragraphs


def _page_metadata(lines: list[str]) -> dict[str, object] | None:
    """Read a '• N authors / · / Mon D[, YYYY] [upvotes]' block, or None if it is not one."""
    m = _N_AUTHORS.match(lines[0])
    if not m:
        return None
    meta: dict[str, object] = {"n_authors": int(m.group(1))}
    for line in lines[1:]:
        d = _DATE.match(line)
        if d:
            meta["date"] = f"{d.group(1)} {d.group(2)}" + (f", {d.group(3)}" if d.group(3) else "")
            meta["year"] = int(d.group(3)) if d.group(3) else None
            meta["upvotes"] = int(d.group(4)) if d.group(4) else 0
    return meta


def parse_daily_page(text: str) -> tuple[list[Draft], list[Skip]]:
    """Parse a 'daily papers' page dump: boilerplate, then title and abstract paragraphs."""
    paras = _paragraphs(text)
    drafts: list[Draft] = []
    skips: list[Skip] = []
    i = 0
    while i < len(paras):
        n, lines = paras[i]
        joined = " ".join(lines)
        meta = _page_metadata(lines)
        if meta is not None:
            if drafts and drafts[-1].n_authors is None:
                drafts[-1] = Draft(**{**drafts[-1].__dict__, **meta})
            i += 1
            continue
        if joined.lower() in _BOILERPLATE or _DATE.match(joined):
            i += 1
            continue
        nxt = " ".join(paras[i + 1][1]) if i + 1 < len(paras) else ""
        if len(joined) <= 400 and _page_metadata(paras[i + 1][1] if nxt else [""]) is None:
            problem = check_abstract(nxt)
            if problem is None:
                drafts.append(Draft(line=n, title=joined, abstract=nxt))
                i += 2
                continue
            skips.append(Skip(line=n, reason=f"title without a usable abstract: {problem}"))
        else:
            skips.append(Skip(line=n, reason="paragraph is not a title followed by an abstract"))
        i += 1
    return drafts, skips


def parse_abstract_lines(text: str) -> tuple[list[Draft], list[Skip]]:
    """Parse 'Abstract: ...' lines that carry no title."""
    drafts: list[Draft] = []
    skips: list[Skip] = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if not line.startswith("Abstract:"):
            skips.append(Skip(line=n, reason="line does not start with 'Abstract:'"))
            continue
        abstract = line[len("Abstract:") :].strip()
        problem = check_abstract(abstract)
        if problem:
            skips.append(Skip(line=n, reason=problem))
        else:
            drafts.append(Draft(line=n, abstract=abstract))
    return drafts, skips
