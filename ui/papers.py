"""The Papers tab's model (one row per indexed paper, filtered and sorted) and the header
that counts a collection's papers."""

from __future__ import annotations

import re
from urllib.parse import quote

from rag import Paper, compare, references

EMPTY = compare.EMPTY
PAPER_COLUMNS = ["Title", "Authors", "Year", "Source", "Identifier"]
SORT_COLUMNS = ["Year", "Title", "Authors", "Source", "Identifier"]
DESCENDING, ASCENDING = "Descending", "Ascending"
TITLE = "paperchat"


def ingest_command(collection: str) -> str:
    """The command that adds papers to a collection."""
    return f"paperchat --collection {collection} ingest PATH"


def header(collection: str, papers: list[Paper]) -> str:
    """The page header (Markdown): what the collection holds, or how to fill an empty one."""
    if not papers:
        return (
            f"# {TITLE}\nThe collection `{collection}` holds no papers yet: add some with "
            f"`{ingest_command(collection)}` (files or folders of abstracts), then pick it again."
        )
    n = len(papers)
    return (
        f"# {TITLE}\nAsk questions about {n} research-paper abstract{'s' * (n != 1)}; "
        "every claim links to the paper it came from."
    )


def source_names(papers: list[Paper]) -> list[str]:
    """The source files the papers came from, sorted (the choices of the source filter)."""
    return sorted({s for p in papers for s in p.source_names})


def _identifier(paper: Paper) -> str:
    """The paper's identifier as a Markdown link (DOI, arXiv id or its URL), else its source's
    own id as text, else "—"."""
    links = references.paper_links(paper)
    if "doi" in links:
        label, url = f"doi:{paper.doi}", links["doi"]
    elif "arxiv" in links:
        label, url = f"arXiv:{paper.arxiv_id}", links["arxiv"]
    elif "url" in links:
        label, url = "link", links["url"]
    else:
        return references.md_escape(paper.source_ids[0]) if paper.source_ids else EMPTY
    return f"[{references.md_escape(label)}]({quote(url, safe=':/?#=&%~+@!$,;*')})"


def paper_row(paper: Paper) -> list[str]:
    """One Papers-table row: title, authors, year, source files, identifier ("—" if none)."""
    return [
        paper.title.strip() or EMPTY,
        ", ".join(paper.authors) or EMPTY,
        str(paper.year) if paper.year else EMPTY,
        ", ".join(paper.source_names) or EMPTY,
        _identifier(paper),
    ]


def paper_rows(
    papers: list[Paper], query: str = "", sort_by: str = "Year", order: str = DESCENDING
) -> list[list[str]]:
    """Rows for the Papers table matching `query`, sorted by a column (SORT_COLUMNS); rows
    with nothing in that column come last either way, ties go by title."""
    q = (query or "").strip().lower()
    rows = [r for r in map(paper_row, papers) if not q or q in " ".join(r).lower()]
    col = PAPER_COLUMNS.index(sort_by) if sort_by in PAPER_COLUMNS else 2
    rows.sort(key=lambda r: r[0].casefold())
    rows.sort(key=lambda r: _sort_key(r[col], col), reverse=order == DESCENDING)
    return sorted(rows, key=lambda r: r[col] == EMPTY)  # stable: keeps the order above


def _sort_key(value: str, col: int) -> tuple[int, str]:
    if col == 2:
        return (int(value) if value.isdigit() else 0, "")
    return (0, re.sub(r"[\\\[\]]", "", value).casefold())
