"""A paper's identifiers (DOI, arXiv id, the source's own ids): normalised, stored, merged.

Identifiers ride along with a paper: they never change its id (a hash of the abstract) nor
its chunks, so they are kept out of the content hash and written as extra chunk metadata.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from rag.records import Paper

_DOI = re.compile(r"\b(10\.\d{4,9}/\S+)", re.IGNORECASE)
_DOI_PREFIX = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)
# New-style (2007+) YYMM.NNNN[N] and old-style archive/YYMMNNN, with an optional version.
_ARXIV = re.compile(
    r"^(?:arxiv:)?((?:\d{2}(?:0[1-9]|1[0-2])\.\d{4,5})|(?:[a-z][a-z.-]+/\d{7}))(?:v\d+)?$",
    re.IGNORECASE,
)
_ARXIV_URL = re.compile(r"arxiv\.org/(?:abs|pdf)/([^\s?#]+?)(?:\.pdf)?(?:[?#]|$)", re.IGNORECASE)
MAX_ID_CHARS = 200

META_DOI, META_ARXIV, META_SOURCE_IDS = "doi", "arxiv_id", "source_ids"


def normalize_doi(value: object) -> str | None:
    """Return the bare DOI (`10.xxxx/...`, lower-cased) in a DOI, doi: or doi.org form."""
    text = _DOI_PREFIX.sub("", str(value or "").strip())
    match = _DOI.search(text)
    if not match:
        return None
    doi = match.group(1).rstrip(".,;)]}").lower()
    return doi if len(doi) <= MAX_ID_CHARS else None


def normalize_arxiv(value: object) -> str | None:
    """Return the arXiv id without version (`2101.01234`, `hep-th/9901001`), or None."""
    text = str(value or "").strip()
    url = _ARXIV_URL.search(text)
    if url:
        text = url.group(1)
    match = _ARXIV.match(text)
    return match.group(1).lower() if match else None


def source_id(value: object) -> str | None:
    """Return a record's own id as a short one-line string, or None when it has none."""
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = " ".join(str(value).split())
    return text if text and len(text) <= MAX_ID_CHARS else None


def union(a: Paper, b: Paper) -> dict[str, Any]:
    """The identifier fields of two records of one paper, merged (first one wins a conflict)."""
    return {
        "doi": a.doi or b.doi,
        "arxiv_id": a.arxiv_id or b.arxiv_id,
        "source_ids": tuple(dict.fromkeys(a.source_ids + b.source_ids)),
    }


def key(paper: Paper) -> tuple[str | None, str | None, tuple[str, ...]]:
    """What identifiers a paper has, for telling whether stored metadata needs updating."""
    return (paper.doi, paper.arxiv_id, paper.source_ids)


def to_metadata(paper: Paper) -> dict[str, str]:
    """The chunk-metadata entries that carry a paper's identifiers (Chroma wants scalars)."""
    return {
        META_DOI: paper.doi or "",
        META_ARXIV: paper.arxiv_id or "",
        META_SOURCE_IDS: json.dumps(list(paper.source_ids), ensure_ascii=False),
    }


def from_metadata(paper: Paper, meta: Mapping[str, Any]) -> Paper:
    """Add the identifiers stored in chunk metadata to a paper (chunks from before: none)."""
    try:
        ids = json.loads(str(meta.get(META_SOURCE_IDS) or "[]"))
    except ValueError:
        ids = []
    return replace(
        paper,
        doi=str(meta.get(META_DOI) or "") or None,
        arxiv_id=str(meta.get(META_ARXIV) or "") or None,
        source_ids=tuple(str(i) for i in ids) if isinstance(ids, list) else (),
    )
