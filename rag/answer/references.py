"""References: links from a paper's identifiers, and an answer exported as BibTeX or Markdown.

Shells use these as they are: a citation's link (`best_link`), its identifiers for `--json`
(`citation_record`), the cited papers as BibTeX (`answer_bibtex`) and the answer with its
numbered, linked references as Markdown (`to_markdown`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from rag.records import Answer, Citation, Paper

DOI_URL = "https://doi.org/"
ARXIV_URL = "https://arxiv.org/abs/"


def paper_links(paper: Paper) -> dict[str, str]:
    """Every link a paper has, best first: `doi`, `arxiv`, then the source's own `url`."""
    links: dict[str, str] = {}
    if paper.doi:
        links["doi"] = DOI_URL + paper.doi
    if paper.arxiv_id:
        links["arxiv"] = ARXIV_URL + paper.arxiv_id
    if paper.url and paper.url.lower().startswith(("http://", "https://")):
        links["url"] = paper.url
    return links


def best_link(paper: Paper) -> str | None:
    """The one link to show beside a citation (DOI, else arXiv, else the URL), if any."""
    return next(iter(paper_links(paper).values()), None)


def identifiers(paper: Paper) -> dict[str, Any]:
    """A paper's identifiers and links as JSON-ready data (for `--json` output)."""
    return {
        "doi": paper.doi,
        "arxiv_id": paper.arxiv_id,
        "source_ids": list(paper.source_ids),
        "url": paper.url,
        "link": best_link(paper),
        "links": paper_links(paper),
    }


def cited_papers(answer: Answer) -> list[tuple[Citation, Paper | None]]:
    """Pair each citation with its paper from the answer's hits (None if not among them)."""
    by_id = {h.paper.id: h.paper for h in answer.hits}
    return [(c, by_id.get(c.paper_id)) for c in answer.citations]


def citation_record(citation: Citation, paper: Paper | None) -> dict[str, Any]:
    """A citation as JSON-ready data, with its paper's identifiers and link."""
    record: dict[str, Any] = {
        "n": citation.n,
        "paper_id": citation.paper_id,
        "title": citation.title,
        "authors": list(citation.authors),
        "year": citation.year,
        "source": citation.source,
    }
    empty: dict[str, Any] = {
        "doi": None,
        "arxiv_id": None,
        "source_ids": [],
        "url": None,
        "link": None,
    }
    return {**record, **(identifiers(paper) if paper else {**empty, "links": {}})}


_BIB_SPECIAL = re.compile(r"([&%$#_])")


def _bib_value(text: str) -> str:
    """Make text safe inside a braced BibTeX value: no stray braces, LaTeX specials escaped."""
    text = " ".join(text.replace("{", "(").replace("}", ")").replace("\\", "/").split())
    return _BIB_SPECIAL.sub(r"\\\1", text)


def _ascii_word(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]", "", plain)


def bibtex_key(paper: Paper) -> str:
    """A citation key: first author's surname, year, first title word (`smith2021widgets`)."""
    surname = _ascii_word(paper.authors[0].split()[-1]) if paper.authors else ""
    word = next((w for w in (_ascii_word(w) for w in paper.title.split()) if len(w) > 3), "")
    key = f"{surname}{paper.year or ''}{word}".lower()
    return key or f"paper{paper.id[:8]}"


def bibtex_entry(paper: Paper, key: str | None = None) -> str:
    """One paper as a BibTeX entry (`@misc` for arXiv-only papers, else `@article`)."""
    fields: list[tuple[str, str]] = [("title", paper.title)]
    if paper.authors:
        more = (paper.n_authors or 0) > len(paper.authors)  # a list cut short when stored
        fields.append(("author", " and ".join([*paper.authors, *(["others"] if more else [])])))
    if paper.year:
        fields.append(("year", str(paper.year)))
    if paper.doi:
        fields.append(("doi", paper.doi))
    if paper.arxiv_id:
        fields += [("eprint", paper.arxiv_id), ("archiveprefix", "arXiv")]
    link = paper.url or best_link(paper)
    if link:
        fields.append(("url", link))
    fields.append(("abstract", paper.abstract))
    kind = "misc" if paper.arxiv_id and not paper.doi else "article"
    body = ",\n".join(f"  {name} = {{{_bib_value(value)}}}" for name, value in fields)
    return f"@{kind}{{{key or bibtex_key(paper)},\n{body}\n}}\n"


def to_bibtex(papers: Iterable[Paper]) -> str:
    """Papers as BibTeX entries with unique keys (`smith2021widgets`, `...a`, `...b`)."""
    seen: dict[str, int] = {}
    entries = []
    for paper in dict((p.id, p) for p in papers).values():
        key = bibtex_key(paper)
        n = seen.get(key, 0)
        seen[key] = n + 1
        entries.append(bibtex_entry(paper, key if n == 0 else f"{key}{chr(ord('a') + n - 1)}"))
    return "\n".join(entries)


def answer_bibtex(answer: Answer) -> str:
    """The papers an answer cites, as BibTeX, in citation order."""
    return to_bibtex(p for _, p in cited_papers(answer) if p is not None)


def md_escape(text: str) -> str:
    """Escape what Markdown would read as markup in a title or name."""
    return re.sub(r"([\\`*_\[\]<>|])", r"\\\1", text)


def reference_line(citation: Citation, paper: Paper | None) -> str:
    """One numbered reference: `[n] Authors (year). *Title*. link`."""
    names = list(citation.authors)
    authors = ", ".join(names[:6]) + (" et al." if len(names) > 6 else "")
    parts = [f"[{citation.n}]"]
    if authors:
        parts.append(md_escape(authors) + (f" ({citation.year})." if citation.year else "."))
    elif citation.year:
        parts.append(f"({citation.year}).")
    parts.append(f"*{md_escape(citation.title)}*.")
    links = paper_links(paper) if paper else {}
    if "doi" in links:
        parts.append(f"[doi:{paper.doi}]({links['doi']})")  # type: ignore[union-attr]
    if "arxiv" in links:
        parts.append(f"[arXiv:{paper.arxiv_id}]({links['arxiv']})")  # type: ignore[union-attr]
    if "url" in links and not ({"doi", "arxiv"} & links.keys()):
        parts.append(f"<{links['url']}>")
    return " ".join(parts)


def to_markdown(answer: Answer) -> str:
    """The answer with its numbered references, each linked when the paper has a link."""
    lines = [f"**Q:** {answer.question}", "", answer.text.strip()]
    pairs = cited_papers(answer)
    if pairs:
        lines += ["", "## References", ""]
        lines += [reference_line(c, p) for c, p in pairs]
    return "\n".join(lines) + "\n"
