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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag.corpus.loaders.base import Draft, Skip, UnreadableFile
from rag.corpus.loaders.pdf_page import GAP, MARKS, SUP, Line, read_page

if TYPE_CHECKING:
    from pdfminer.layout import LAParams

PAGES = 2  # the abstract may run on to page 2; nothing past it is read
_COVER = re.compile(r"Your use of the JSTOR archive|Stable URL:|JSTOR is a not-for-profit")
_CID = re.compile(r"\(cid:\d+\)")  # a glyph with no Unicode mapping


@dataclass(frozen=True)
class _Page1:
    lines: list[Line]
    rotated: str  # the text of rotated characters (the arXiv margin stamp)
    meta_title: str


def is_pdf(raw: bytes) -> bool:
    """Tell whether a file's first bytes are a PDF's (`%PDF-` within the first kilobyte)."""
    return b"%PDF-" in raw[:1024]


def parse_pdf(path: Path) -> tuple[list[Draft], list[Skip]]:
    """Read one paper from a PDF; UnreadableFile (one line) when that cannot be done."""
    page = _read(path)
    try:
        return [read_page(page.lines, page.rotated, page.meta_title)], []
    except UnreadableFile:
        raise
    except Exception as exc:  # a page layout the heuristics below did not foresee
        raise UnreadableFile(
            f"could not make out the PDF's first page ({type(exc).__name__}); export its "
            "record as BibTeX/RIS/CSL-JSON instead"
        ) from None


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

    lines: list[Line] = []
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
                if raw.strip(SUP + GAP + " "):
                    lines.append(
                        Line(
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
    """A line's text with superscripts marked SUP and wide gaps GAP; its body font size."""
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
            out.append(GAP)
        last_x1 = item.x1  # type: ignore[attr-defined]
        small = size and item.size < 0.8 * size  # type: ignore[attr-defined]
        raised = small and item.y0 > base + 0.15 * size  # type: ignore[attr-defined]
        if small and (raised or text in MARKS or text.isdigit() or text in ",;"):
            out.append(SUP)
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
