"""Read a paper PDF's first page: title, authors, abstract, year, arXiv id and DOI.

Layout-aware (pdfminer.six): the title is the largest type at the top of page 1, not the
PDF's metadata (often "Microsoft Word - draft_v3.docx"); superscript affiliation marks are
told apart by their size; the arXiv margin stamp is the rotated text. A file-level problem
(no text layer, encrypted, broken, no abstract found) raises UnreadableFile with one line
saying what to do, never a traceback.
"""

from __future__ import annotations

import logging
import re
import statistics
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag.corpus.loaders.base import MAX_ABSTRACT_CHARS, Draft, Skip, UnreadableFile, check_abstract
from rag.identifiers import normalize_arxiv, normalize_doi

if TYPE_CHECKING:
    from pdfminer.layout import LAParams

PAGES = 2  # the abstract may run on to page 2; nothing past it is read
_COVER = re.compile(r"Your use of the JSTOR archive|Stable URL:|JSTOR is a not-for-profit")
_SECTION = re.compile(
    r"^\s*(?:\d+\.?|[IVX]+\.)?\s*(?:introduction|contents|references|background)\s*$", re.I
)
_CID = re.compile(r"\(cid:\d+\)")  # a glyph with no Unicode mapping
_SUP, _GAP = "\x01", "\x02"  # a superscript mark / a wide gap, in a line's raw text
_MARKS = "*∗†‡§¶‖#⋆★♠♣♦♥✉♮♭⊥"
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
class _Line:
    """One line of text on a page: its raw text (with _SUP/_GAP marks), size and place."""

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
        return " ".join(self.raw.replace(_SUP, " ").replace(_GAP, " ").split())


@dataclass(frozen=True)
class _Page1:
    lines: list[_Line]
    rotated: str  # the text of rotated characters (the arXiv margin stamp)
    meta_title: str


def is_pdf(raw: bytes) -> bool:
    """Tell whether a file's first bytes are a PDF's (`%PDF-` within the first kilobyte)."""
    return b"%PDF-" in raw[:1024]


def parse_pdf(path: Path) -> tuple[list[Draft], list[Skip]]:
    """Read one paper from a PDF; UnreadableFile (one line) when that cannot be done."""
    page = _read(path)
    body = [ln for ln in page.lines if ln.text]
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
    title = " ".join(ln.text for ln in title_lines) or _meta_title(page.meta_title)
    text = "\n".join(ln.text for ln in body)
    arxiv = _arxiv(page.rotated, text)
    return [
        Draft(
            line=1,
            title=_tidy_title(title) or None,
            abstract=abstract,
            authors=_authors(body[start:end]),
            year=_year(page.rotated, text, arxiv),
            doi=_doi(text),
            arxiv_id=arxiv,
            url=f"https://arxiv.org/abs/{arxiv}" if arxiv else None,
        )
    ], []


def _read(path: Path) -> _Page1:
    """The first pages' text lines via pdfminer, every failure as UnreadableFile."""
    try:
        from pdfminer.layout import LAParams
    except ImportError:  # pragma: no cover - a declared dependency
        raise UnreadableFile("reading PDFs needs pdfminer.six (pip install pdfminer.six)") from None
    logging.getLogger("pdfminer").setLevel(logging.ERROR)  # its warnings are not the user's
    try:
        return _layout(path, LAParams(line_margin=0.5, boxes_flow=0.5))
    except UnreadableFile:
        raise
    except MemoryError:
        raise UnreadableFile("PDF too large to read in memory") from None
    except Exception as exc:  # pdfminer raises many types on broken input; all mean the same
        raise UnreadableFile(_pdf_problem(exc)) from None


def _pdf_problem(exc: Exception) -> str:
    """Say what a pdfminer exception means for the user, in one line."""
    name = type(exc).__name__
    if "Password" in name or "Encrypt" in name or "crypt" in str(exc).lower():
        return "PDF is encrypted (password-protected); save an unprotected copy and ingest that"
    if isinstance(exc, RecursionError):
        return "broken PDF (nested too deeply); re-save it with a PDF viewer"
    detail = " ".join(str(exc).split())[:120]
    return (
        f"broken or truncated PDF ({name}{': ' + detail if detail else ''}); "
        "download it again or re-save it with a PDF viewer"
    )


def _layout(path: Path, params: LAParams) -> _Page1:
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTChar, LTTextContainer, LTTextLine

    lines: list[_Line] = []
    rotated: list[tuple[float, float, str]] = []
    box = 0
    number = 0
    for page in extract_pages(path, maxpages=PAGES + 1, laparams=params):
        height = float(page.height) or 792.0
        start = len(lines)
        for element in page:
            if not isinstance(element, LTTextContainer):
                rotated += _rotated_chars(element, LTChar)
                continue
            box += 1
            for line in element:
                if not isinstance(line, LTTextLine):
                    continue
                chars = [c for c in line if isinstance(c, LTChar)]
                upright = [c for c in chars if c.upright]
                rotated += [(c.x0, c.y0, c.get_text()) for c in chars if not c.upright]
                if len(upright) < max(1, len(chars) // 2):
                    continue
                raw, size = _line_text(line, LTChar)
                if raw in (ln.raw for ln in lines[-2:]):  # drawn twice (fake bold, templates)
                    continue
                if raw.strip(_SUP + _GAP + " "):
                    lines.append(
                        _Line(
                            raw,
                            size,
                            line.x0,
                            line.y0,
                            line.x1,
                            height - line.y1,
                            number,
                            box,
                            height,
                            float(page.width) or 612.0,
                        )
                    )
        if number == 0 and _COVER.search(" ".join(ln.text for ln in lines[start:])):
            del lines[start:]  # an archive's cover sheet (JSTOR): the paper starts after it
            continue
        number += 1
        if number == PAGES:
            break
    return _Page1(lines, _stamp(rotated), _metadata_title(path))


def _rotated_chars(element: object, char_type: type) -> list[tuple[float, float, str]]:
    """Rotated characters inside a figure (some stamps are drawn as a figure)."""
    found: list[tuple[float, float, str]] = []
    stack = [element]
    while stack:
        item = stack.pop()
        if isinstance(item, char_type):
            if not item.upright:  # type: ignore[attr-defined]
                found.append((item.x0, item.y0, item.get_text()))  # type: ignore[attr-defined]
        elif hasattr(item, "__iter__") and not isinstance(item, (str, bytes)):
            try:
                stack.extend(iter(item))  # type: ignore[call-overload]
            except TypeError:
                continue
    return found


def _stamp(chars: list[tuple[float, float, str]]) -> str:
    """The rotated text read both ways up (the arXiv stamp runs bottom to top)."""
    if not chars:
        return ""
    up = "".join(c for _, _, c in sorted(chars, key=lambda c: (round(c[0]), c[1])))
    down = "".join(c for _, _, c in sorted(chars, key=lambda c: (round(c[0]), -c[1])))
    return f"{up}\n{down}"


def _line_text(line: object, char_type: type) -> tuple[str, float]:
    """A line's text with superscripts marked _SUP and wide gaps _GAP; its body font size."""
    chars = [c for c in line if isinstance(c, char_type) and c.get_text().strip()]  # type: ignore[attr-defined]
    sizes = [round(c.size, 1) for c in chars]  # type: ignore[attr-defined]
    size = statistics.median(sizes) if sizes else 0.0
    body = [c.y0 for c in chars if abs(c.size - size) < 0.5] or [c.y0 for c in chars]  # type: ignore[attr-defined]
    base = statistics.median(body) if body else 0.0
    out: list[str] = []
    last_x1: float | None = None
    for item in line:  # type: ignore[attr-defined]
        text = item.get_text()
        if not isinstance(item, char_type):
            out.append(" " if text.isspace() else text)
            continue
        if not item.upright:  # type: ignore[attr-defined]
            continue
        if last_x1 is not None and size and item.x0 - last_x1 > 1.2 * size:  # type: ignore[attr-defined]
            out.append(_GAP)
        last_x1 = item.x1  # type: ignore[attr-defined]
        small = size and item.size < 0.8 * size  # type: ignore[attr-defined]
        raised = small and item.y0 > base + 0.15 * size  # type: ignore[attr-defined]
        if small and (raised or text in _MARKS or text.isdigit() or text in ",;"):
            out.append(_SUP)
        else:
            out.append(text)
    text = _CID.sub("", unicodedata.normalize("NFKC", "".join(out)))
    return text.replace("\n", " "), float(size)


def _metadata_title(path: Path) -> str:
    """The PDF's Info /Title, if any (used only when the page has no title)."""
    try:
        from pdfminer.pdfdocument import PDFDocument
        from pdfminer.pdfparser import PDFParser

        with path.open("rb") as handle:
            info = PDFDocument(PDFParser(handle)).info
        value = info[0].get("Title") if info else None
        if isinstance(value, bytes):
            if value.startswith((b"\xfe\xff", b"\xff\xfe")):
                return value.decode("utf-16", errors="replace")
            return value.decode("latin-1", errors="replace")
        return str(value) if isinstance(value, str) else ""
    except Exception:  # metadata is optional; a broken Info dict is no reason to fail
        return ""


def _meta_title(title: str) -> str:
    """The metadata title unless it is junk such as 'Microsoft Word - draft_v3.docx'."""
    title = " ".join(title.split())
    if not title or _JUNK_META.search(title) or len(title.split()) < 3:
        return ""
    return title


def _tidy_title(title: str) -> str:
    title = " ".join(title.split()).strip(" " + _MARKS)
    return re.sub(r"(?<=\w)[" + re.escape(_MARKS) + r"]+$", "", title)  # not digits: "T5"


def _title(lines: list[_Line]) -> list[_Line]:
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


def _under_header(lines: list[_Line], line: _Line) -> bool:
    """Whether a line continues a journal header right above it ('International Journal of' /
    'Emerging Technologies in Learning'): a journal's name set as large as a title."""
    at = lines.index(line)
    above = [ln for ln in lines[max(0, at - 3) : at] if 0 < line.top - ln.top < 2.5 * line.size]
    return any(
        _HEADER_JUNK.search(ln.text) and re.search(r"\b(?:of|for|on|and|in|the|&)$", ln.text)
        for ln in above
    )


def _abstract(lines: list[_Line], start: int) -> tuple[int | None, str]:
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


def _column(heading: _Line, after: list[_Line]) -> list[_Line]:
    """The lines under a heading, in its column: spans overlapping the heading's and its first
    line's (a centred heading over a wide paragraph; the left one of two columns)."""
    first = next((x for x in after if x.x0 < heading.x1 and x.x1 > heading.x0), None)
    if first is None:
        return []
    x0, x1 = min(heading.x0, first.x0), max(heading.x1, first.x1)
    return [x for x in after if x.x0 < x1 and x.x1 > x0]


def _body_size(lines: list[_Line]) -> float:
    sizes = [round(ln.size, 1) for ln in lines if len(ln.text) > 20]
    return statistics.mode(sizes) if sizes else 0.0


def _until_stop(lines: list[_Line], size: float) -> Iterator[str]:
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


def _first_paragraph(lines: list[_Line], start: int) -> str:
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


def _is_section(line: _Line) -> bool:
    """A section heading such as '1 Introduction' (or the '1' of it on its own line)."""
    text = line.text
    return bool(_SECTION.match(text)) or (
        len(text) < 40
        and bool(re.match(r"^(?:1|I)\.?\s+[A-Z][a-z]+(?:\s+\w+){0,3}$", text))
        and not _AFFILIATION.search(text)
    )


def _paragraphs(lines: list[_Line]) -> list[list[_Line]]:
    """pdfminer's text boxes, joined where it split one paragraph line by line (a close line
    of the same size right below, overlapping it)."""
    paras: list[list[_Line]] = []
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


def _first_abstract_line(lines: list[_Line], abstract: str, start: int) -> int:
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


def _authors(lines: list[_Line]) -> tuple[str, ...]:
    """Names from the lines between the title and the abstract, marks and e-mails removed."""
    names: list[str] = []
    for ln in lines:
        raw = _URL.sub(" ", _EMAIL.sub(" ", ln.raw))
        if _AFFILIATION.search(_EMAIL.sub(" ", ln.raw)) or _HEADING.match(ln.text):
            continue
        raw = raw.replace(_SUP, ",").replace(_GAP, ",")
        raw = re.sub(r"(?<=[a-zA-Z.])[\d" + re.escape(_MARKS) + r"]+", ",", raw)
        raw = re.sub("[" + re.escape(_MARKS) + "]", ",", raw)
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
