"""Turn one structured record (JSON object, CSV row, BibTeX/RIS entry) into a draft.

Field names are matched case-insensitively with aliases, so the same code reads BEIR/HF
JSONL (`_id`, `title`, `text`), arXiv metadata snapshots (`id`, `abstract`, `authors` as one
string, `authors_parsed`, `versions`, `update_date`), CSL-JSON (`author` name objects,
`issued` date parts, `DOI`, `URL`) and plain JSONL/CSV.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rag.corpus.loaders.base import MAX_TITLE_CHARS, Draft, Skip, check_abstract
from rag.identifiers import normalize_arxiv, normalize_doi, source_id
from rag.text import person_name

ABSTRACT_KEYS = ("abstract", "text", "summary", "description", "abstractnote")
TITLE_KEYS = ("title",)
AUTHOR_KEYS = ("authors_parsed", "authors", "author", "creators")
YEAR_KEYS = (
    "year",
    "issued",
    "published",
    "publication_date",
    "date",
    "created",
    "versions",  # arXiv: the first version's date is the paper's
    "update_date",
    "updated",
)
ID_KEYS = ("id", "_id", "doc_id", "docid", "paper_id", "corpus_id", "corpusid")
DOI_KEYS = ("doi",)
ARXIV_KEYS = ("arxiv_id", "arxivid", "arxiv", "eprint")
URL_KEYS = ("url", "link", "href")
# Keys only an arXiv metadata record has: its `id` is then an arXiv id.
ARXIV_RECORD_KEYS = frozenset({"categories", "update_date", "versions", "authors_parsed"})

_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
_AND = re.compile(r",?\s+and\s+|\s*&\s*|\s+&\s+", re.IGNORECASE)
_PARENS = re.compile(r"\([^()]*\)")


def _first(record: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = record.get(key)
        if value not in (None, "", [], {}):
            return value
    return None


def _text(value: Any) -> str:
    """A field as text: lists (e.g. CSL `title` variants) give their first item."""
    if isinstance(value, list):
        value = value[0] if value else ""
    if isinstance(value, dict):
        return ""
    return str(value if value is not None else "").strip()


def split_authors(text: str) -> tuple[str, ...]:
    """Split an author string: `A, B and C`, `Last, First and Last, First`, or `A; B`."""
    text = _PARENS.sub(" ", text).strip()  # arXiv strings carry affiliations in parentheses
    if not text:
        return ()
    if ";" in text:
        return tuple(person_name(p) for p in (p.strip() for p in text.split(";")) if p)
    parts = [p.strip() for p in _AND.split(text) if p.strip()]
    if len(parts) > 1 and all(p.count(",") == 1 for p in parts):
        return tuple(person_name(p) for p in parts)  # BibTeX/RIS: Last, First and Last, First
    return tuple(n.strip() for p in parts for n in p.split(",") if n.strip())


def _name(item: Any) -> str:
    """One author from a list: a string, a CSL name object, or an arXiv `[last, first, suffix]`."""
    if isinstance(item, dict):
        low = {str(k).lower(): v for k, v in item.items()}
        if low.get("literal") or low.get("name"):
            return _text(low.get("literal") or low.get("name"))
        given = " ".join(_text(low.get(k)) for k in ("given", "first", "firstname"))
        family = " ".join(_text(low.get(k)) for k in ("family", "last", "lastname"))
        return " ".join(f"{given} {family}".split())
    if isinstance(item, list):
        last, first = (_text(item[0]) if item else ""), (_text(item[1]) if len(item) > 1 else "")
        suffix = _text(item[2]) if len(item) > 2 else ""
        return " ".join(f"{first} {last} {suffix}".split())
    text = _text(item)
    return person_name(text) if text.count(",") == 1 else text


def authors(value: Any) -> tuple[str, ...]:
    """Read authors from a list (names, CSL objects, arXiv parsed triples) or one string."""
    if isinstance(value, list):
        return tuple(n for n in (_name(v) for v in value) if n)
    if isinstance(value, dict):
        return (_name(value),) if _name(value) else ()
    return split_authors(_text(value))


def year(value: Any) -> int | None:
    """The first plausible year in a value: `2021`, `2021-05-01`, CSL date parts, versions."""
    match = _YEAR.search(str(value or ""))
    return int(match.group(1)) if match else None


def identifiers(record: Mapping[str, Any]) -> tuple[str | None, str | None, str | None, str | None]:
    """Return (doi, arxiv_id, source id, url) from a lower-cased record."""
    own = source_id(_first(record, ID_KEYS))
    url = _text(_first(record, URL_KEYS)) or None
    doi = normalize_doi(_text(_first(record, DOI_KEYS)))
    arxiv = normalize_arxiv(_text(_first(record, ARXIV_KEYS)))
    if url and not doi and "doi.org/" in url.lower():
        doi = normalize_doi(url)
    if url and not arxiv:
        arxiv = normalize_arxiv(url) if "arxiv.org/" in url.lower() else None
    arxiv_record = bool(ARXIV_RECORD_KEYS & record.keys())
    if own and not arxiv and (arxiv_record or own.lower().startswith("arxiv:")):
        arxiv = normalize_arxiv(own)
    if own and not doi and own.startswith("10."):
        doi = normalize_doi(own)
    return doi, arxiv, own, url


def _label(doi: str | None, arxiv: str | None, own: str | None) -> str:
    """Name a record by its identifier for a warning, or nothing when it has none."""
    if doi:
        return f" (doi {doi})"
    if arxiv:
        return f" (arXiv {arxiv})"
    return f" (id {own})" if own else ""


def draft(record: Mapping[Any, Any], line: int) -> Draft | Skip:
    """Validate one structured record and build its draft."""
    low = {str(k).strip().lower(): v for k, v in record.items() if k is not None}
    doi, arxiv, own, url = identifiers(low)
    abstract = _text(_first(low, ABSTRACT_KEYS))
    problem = check_abstract(abstract)
    if problem:
        return Skip(line, problem + _label(doi, arxiv, own))
    title = _text(_first(low, TITLE_KEYS))
    if len(title) > MAX_TITLE_CHARS:
        return Skip(line, f"title too long ({len(title):,} characters)")
    return Draft(
        line=line,
        title=title or None,
        abstract=abstract,
        authors=authors(_first(low, AUTHOR_KEYS)),
        year=next((y for y in (year(low.get(k)) for k in YEAR_KEYS) if y), None),
        url=url,
        doi=doi,
        arxiv_id=arxiv,
        source_id=own,
    )
