"""What a paper's first page says: title, authors, abstract and identifiers, from its lines.

The heuristics of the PDF loader (`rag.corpus.loaders.pdf` reads the lines with pdfminer):
the largest type at the top is the title, name-shaped lines under it the authors, the text
after an "Abstract" heading (or the first paragraph) the abstract. Pure functions of `Line`s.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterator
from dataclasses import dataclass

from rag.corpus.loaders.base import MAX_ABSTRACT_CHARS, Draft, UnreadableFile, check_abstract
from rag.identifiers import normalize_arxiv, normalize_doi

_SECTION = re.compile(
    r"^\s*(?:\d+\.?|[IVX]+\.)?\s*(?:introduction|contents|references|background)\s*$", re.I
)
SUP, GAP = "\x01", "\x02"  # a superscript mark / a wide gap, in a line's raw text
MARKS = "*∗†‡§¶‖#⋆★♠♣♦♥✉♮♭⊥"
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\{[^{}]*\}@[\w.-]+")
_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_HEADING = re.compile(
    r"^\s*(?:a\s?b\s?s\s?t\s?r\s?a\s?c\s?t|summary)\b\s*[.:\-—–]?\s*", re.IGNORECASE
)
_STOP = re.compile(
    r"^\s*(?:key\s?words?|index\s+terms|ccs\s+concepts|general\s+terms|subjects?\b|"
    r"(?:1|I)\.?\s+introduction|introduction\s*$|(?:1|I)\.?\s+[A-Z][A-Za-z]+(?:\s+[A-Za-z]+){0,4}\s*$|"
    r"(?:1|I)\.\s+[A-Z]|a\s?r\s?t\s?i\s?c\s?l\s?e\s+i\s?n\s?f\s?o|©|\(c\)\s*\d{4}|copyright\b|"
    r"preprint\.?\s+under\s+review|\*\s*equal\s+contribution|correspond)",
    re.IGNORECASE,
)
_ARXIV_STAMP = re.compile(
    r"arXiv\s*:\s*((?:\d{4}\.\d{4,5})|(?:[a-z][a-z.-]+/\d{7}))(v\d+)?", re.IGNORECASE
)
_STAMP_DATE = re.compile(r"\]\s*\d{1,2}\s*[A-Z][a-z]{2}\s*((?:19|20)\d\d)")
_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s\"<>]+)")
_YEAR = re.compile(r"(?<![\d.])((?:19[5-9]|20[0-4])\d)(?![\d.])")
_YEAR_HINT = re.compile(
    r"©|copyright|published|accepted|received|proceedings|conference|journal|vol\.|"
    r"volume|preprint|workshop|neurips|icml|iclr|acl|emnlp|cvpr|aaai",
    re.IGNORECASE,
)
_AFFILIATION = re.compile(
    r"universit|institut|departm|dept\b|laborator|\blab\b|school|college|facult|academy|"
    r"centre|center|hospital|inc\b|corp|ltd|gmbh|research|google|microsoft|meta\b|amazon|"
    r"deepmind|openai|nvidia|ibm\b|street|road|avenue|\busa\b|china|germany|france|japan|"
    r"\buk\b|canada|korea|india|italy|spain|switzerland|netherlands|australia|singapore|"
    r"\b\d{4,6}\b|foundation|council|ministry|national|@|\bcorresponding\b|equal contribution",
    re.IGNORECASE,
)
_HEADER_JUNK = re.compile(
    r"journal of|proceedings|transactions on|review letters|vol\.|volume|issn|doi|http|www\.|"
    r"contents lists|homepage|elsevier|springer|arxiv|^preprint|preprint\.|under review|page \d|"
    r"published|received|accepted|©|copyright|licen[cs]e|conference|workshop",
    re.IGNORECASE,
)
_PARTICLES = {"van", "von", "de", "der", "den", "da", "di", "du", "la", "le", "del", "dos", "y"}
_NOT_NAMES = {
    "month",
    "year",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "abstract",
    "introduction",
    "draft",
    "preprint",
    "the",
    "of",
    "for",
    "on",
    "in",
    "with",
    "submitted",
    "version",
    "anonymous",
}
_NAME_TOKEN = re.compile(r"^(?:[A-Z][\w'’\-]*\.?|[A-Z]\.(?:-?[A-Z]\.)*|[\w'’\-]+)$")
_JUNK_META = re.compile(
    r"microsoft word|\.docx?$|\.tex$|\.dvi$|untitled|^main$|^paper$|^draft|\.pdf$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Line:
    """One line of text on a page: its raw text (with SUP/GAP marks), size and place."""

    raw: str
    size: float
    x0: float
    y0: float
    x1: float
    top: float  # distance from the top of the page
    page: int
    box: int  # the text box it belongs to (pdfminer's reading order)
    page_height: float
    page_width: float = 612.0

    @property
    def text(self) -> str:
        """The line as prose: superscript marks dropped, gaps read as spaces."""
        return " ".join(self.raw.replace(SUP, " ").replace(GAP, " ").split())


def read_page(lines: list[Line], rotated: str, meta_title: str) -> Draft:
    """The paper on a PDF's first pages: title, abstract, authors and identifiers."""
    body = [ln for ln in lines if ln.text]
    if not body:
        raise UnreadableFile(
            "PDF has no text layer (a scanned image?); run OCR on it (e.g. ocrmypdf) or "
            "ingest its record as BibTeX/RIS/CSL-JSON instead"
        )
    title_lines = _title(body)
    start = body.index(title_lines[-1]) + 1 if title_lines else 0
    heading, abstract = _abstract(body, start)
    if not abstract:
        raise UnreadableFile(
            "no abstract found on the first pages of the PDF (no 'Abstract' heading and no "
            "opening paragraph); export its record as BibTeX/RIS/CSL-JSON instead"
        )
    problem = check_abstract(abstract)
    if problem:
        raise UnreadableFile(f"the PDF's abstract is unusable: {problem}")
    end = heading if heading is not None else _first_abstract_line(body, abstract, start)
    title = " ".join(ln.text for ln in title_lines) or _meta_title(meta_title)
    text = "\n".join(ln.text for ln in body)
    arxiv = _arxiv(rotated, text)
    return Draft(
        line=1,
        title=_tidy_title(title) or None,
        abstract=abstract,
        authors=_authors(body[start:end]),
        year=_year(rotated, text, arxiv),
        doi=_doi(text),
        arxiv_id=arxiv,
        url=f"https://arxiv.org/abs/{arxiv}" if arxiv else None,
    )


def _meta_title(title: str) -> str:
    """The metadata title unless it is junk such as 'Microsoft Word - draft_v3.docx'."""
    title = " ".join(title.split())
    if not title or _JUNK_META.search(title) or len(title.split()) < 3:
        return ""
    return title


def _tidy_title(title: str) -> str:
    title = " ".join(title.split()).strip(" " + MARKS)
    return re.sub(r"(?<=\w)[" + re.escape(MARKS) + r"]+$", "", title)  # not digits: "T5"


def _title(lines: list[Line]) -> list[Line]:
    """The largest type in the top half of page 1 (consecutive lines of it), not header junk."""
    top = [
        ln
        for ln in lines
        if ln.page == 0
        and ln.top < 0.6 * ln.page_height
        and len(ln.text) > 3
        and not _HEADER_JUNK.search(ln.text)
        and not _HEADING.match(ln.text)
        and not _SECTION.match(ln.text)
        and not ln.text.lower().startswith("by ")
        and sum(ch.isalpha() for ch in ln.text) >= 4
    ]
    if not top:
        return []
    biggest = max(ln.size for ln in top)
    firsts = [ln for ln in top if ln.size >= biggest - 0.3]
    first = next((ln for ln in firsts if not _under_header(lines, ln)), firsts[0])
    picked = [first]
    at = lines.index(first)
    for ln in reversed(lines[max(0, at - 3) : at]):  # a title in mixed sizes (small caps)
        gap = picked[0].top - ln.top
        if ln.box != first.box or ln.size < 0.75 * first.size or not 0 < gap < 2.2 * first.size:
            break
        if _HEADER_JUNK.search(ln.text):
            break
        picked.insert(0, ln)
    for ln in lines[at + 1 : at + 5]:
        gap = ln.top - picked[-1].top
        if ln.text.lower().startswith("by ") or _SECTION.match(ln.text):
            break
        if abs(ln.size - first.size) <= 0.3 and 0 < gap < 2.2 * first.size:
            picked.append(ln)
        else:
            break
    return picked


def _under_header(lines: list[Line], line: Line) -> bool:
    """Whether a line continues a journal header right above it ('International Journal of' /
    'Emerging Technologies in Learning'): a journal's name set as large as a title."""
    at = lines.index(line)
    above = [ln for ln in lines[max(0, at - 3) : at] if 0 < line.top - ln.top < 2.5 * line.size]
    return any(
        _HEADER_JUNK.search(ln.text) and re.search(r"\b(?:of|for|on|and|in|the|&)$", ln.text)
        for ln in above
    )


def _abstract(lines: list[Line], start: int) -> tuple[int | None, str]:
    """The abstract after a heading (index of the heading line), else the first paragraph."""
    for i, ln in enumerate(lines[start:], start):
        match = _HEADING.match(ln.text)
        rest = ln.text[match.end() :] if match else ""
        if match and (not rest or rest[:1].isupper() or ln.text[match.end() - 1] in ".:—–-"):
            body = [rest] if rest else []
            column = _column(ln, lines[i + 1 :])
            size = _body_size(column[:8]) or ln.size
            body += list(_until_stop(column, size))
            return i, _join(body)
    return None, _first_paragraph(lines, start)


def _column(heading: Line, after: list[Line]) -> list[Line]:
    """The lines under a heading, in its column: spans overlapping the heading's and its first
    line's (a centred heading over a wide paragraph; the left one of two columns)."""
    first = next((x for x in after if x.x0 < heading.x1 and x.x1 > heading.x0), None)
    if first is None:
        return []
    x0, x1 = min(heading.x0, first.x0), max(heading.x1, first.x1)
    return [x for x in after if x.x0 < x1 and x.x1 > x0]


def _body_size(lines: list[Line]) -> float:
    sizes = [round(ln.size, 1) for ln in lines if len(ln.text) > 20]
    return statistics.mode(sizes) if sizes else 0.0


def _until_stop(lines: list[Line], size: float) -> Iterator[str]:
    """Lines of the abstract: up to keywords, a numbered section or a larger heading."""
    total = 0
    for ln in lines:
        text = ln.text
        if _STOP.match(text) or (size and ln.size > 1.15 * size and len(text) < 80):
            return
        if size and ln.size < 0.8 * size:  # a footnote or a page furniture line
            continue
        total += len(text)
        if total > MAX_ABSTRACT_CHARS // 4:
            return
        yield text


def _first_paragraph(lines: list[Line], start: int) -> str:
    """An unheaded abstract: the first text box of body-size prose after the title block."""
    before = lines[start:]
    end = next((i for i, ln in enumerate(before) if _is_section(ln)), len(before))
    boxes = _paragraphs(before[:end])  # an abstract comes before the first section
    # reading order by place, not pdfminer's box order: page, then left column (or full
    # width) before right, then top to bottom
    ordered = sorted(
        boxes,
        key=lambda b: (b[0].page, b[0].x0 > 0.45 * b[0].page_width, b[0].top),
    )
    for box in ordered:
        text = _join([ln.text for ln in box])
        if (
            len(text) >= 200
            and not _STOP.match(text)
            and text.count(". ") >= 1
            and not _EMAIL.search(text)
            and len(_AFFILIATION.findall(text)) < 3
        ):
            kept = list(_until_stop(box, _body_size(box)))
            return _join(kept)
    return ""


def _is_section(line: Line) -> bool:
    """A section heading such as '1 Introduction' (or the '1' of it on its own line)."""
    text = line.text
    return bool(_SECTION.match(text)) or (
        len(text) < 40
        and bool(re.match(r"^(?:1|I)\.?\s+[A-Z][a-z]+(?:\s+\w+){0,3}$", text))
        and not _AFFILIATION.search(text)
    )


def _paragraphs(lines: list[Line]) -> list[list[Line]]:
    """pdfminer's text boxes, joined where it split one paragraph line by line (a close line
    of the same size right below, overlapping it)."""
    paras: list[list[Line]] = []
    for ln in lines:
        if paras:
            last = paras[-1][-1]
            size = max(ln.size, last.size)
            if ln.box == last.box or (
                ln.page == last.page
                and abs(ln.size - last.size) <= 0.15 * size
                and 0 < ln.top - last.top < 1.8 * size
                and ln.x0 < last.x1
                and ln.x1 > last.x0
            ):
                paras[-1].append(ln)
                continue
        paras.append([ln])
    return paras


def _first_abstract_line(lines: list[Line], abstract: str, start: int) -> int:
    head = abstract[:30]
    for i, ln in enumerate(lines[start:], start):
        if ln.text and head.startswith(ln.text[:30]):
            return i
    return start


def _join(parts: list[str]) -> str:
    """Join lines, mending words hyphenated at a line end."""
    out = ""
    for part in (p.strip() for p in parts):
        if not part:
            continue
        if out.endswith("-") and part[:1].islower() and out[-2:-1].isalpha():
            out = out[:-1] + part
        else:
            out = f"{out} {part}" if out else part
    return out.strip()


def _authors(lines: list[Line]) -> tuple[str, ...]:
    """Names from the lines between the title and the abstract, marks and e-mails removed."""
    names: list[str] = []
    for ln in lines:
        raw = _URL.sub(" ", _EMAIL.sub(" ", ln.raw))
        if _AFFILIATION.search(_EMAIL.sub(" ", ln.raw)) or _HEADING.match(ln.text):
            continue
        raw = raw.replace(SUP, ",").replace(GAP, ",")
        raw = re.sub(r"(?<=[a-zA-Z.])[\d" + re.escape(MARKS) + r"]+", ",", raw)
        raw = re.sub("[" + re.escape(MARKS) + "]", ",", raw)
        parts = [p.strip(" .") for p in re.split(r",|;|\band\b|&|\s{2,}", raw, flags=re.IGNORECASE)]
        parts = [re.sub(r"^(?:by|and)\s+", "", p, flags=re.IGNORECASE) for p in parts if p]
        if parts and all(_is_name(p) for p in parts):
            names += [" ".join(p.split()) for p in parts]
    return tuple(dict.fromkeys(names))[:100]


def _is_name(part: str) -> bool:
    tokens = part.split()
    if not 2 <= len(tokens) <= 5 or any(ch.isdigit() for ch in part):
        return False
    if any(t.lower().strip(".") in _NOT_NAMES for t in tokens):
        return False
    capital = [t for t in tokens if t.lower() not in _PARTICLES]
    return bool(capital) and all(
        _NAME_TOKEN.match(t) and (t[0].isupper() or t[0] in "'’") for t in capital
    )


def _arxiv(stamp: str, text: str) -> str | None:
    for source in (stamp, text[:20000]):
        match = _ARXIV_STAMP.search(source.replace(" ", "") if source is stamp else source)
        if match:
            return normalize_arxiv(match.group(1))
    return None


def _doi(text: str) -> str | None:
    joined = re.sub(r"(10\.\d{4,9}/\S*[-/.])\n(\S)", r"\1\2", text)  # a DOI broken at a line end
    hinted = re.search(r"(?:doi\s*[:.]?\s*|doi\.org/)(10\.\d{4,9}/[^\s\"<>]+)", joined, re.I)
    match = hinted or _DOI.search(joined)
    return normalize_doi(match.group(1)) if match else None


def _year(stamp: str, text: str, arxiv: str | None) -> int | None:
    dated = _STAMP_DATE.search(stamp.replace("\n", " "))
    if dated:
        return int(dated.group(1))
    if arxiv and re.match(r"\d{4}\.", arxiv):
        return 2000 + int(arxiv[:2])
    for line in text.splitlines():
        if _YEAR_HINT.search(line):
            found = _YEAR.search(line)
            if found:
                return int(found.group(1))
    return None
