"""Generate paper-like PDFs with reportlab for the PDF loader's tests and its measurement.

Each `PaperSpec` is a first page in one of several layouts: one or two columns, an
"Abstract" / "ABSTRACT" / IEEE "Abstract—" / journal "A B S T R A C T" heading or none,
superscript affiliation marks, e-mails, an arXiv margin stamp, a DOI, a journal header,
junk PDF metadata. Nothing is downloaded; every file is made at test time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

HEADINGS = ("Abstract", "ABSTRACT", "Abstract—", "A B S T R A C T", "Abstract.", "")
LAYOUTS = ("one-column", "two-column", "journal")

_PROSE = (
    "we propose a method for learning sparse representations of graphs that scales to "
    "millions of nodes while preserving structure our experiments on citation networks show "
    "consistent gains over strong baselines and the analysis explains when the approach "
    "fails in practice the model combines contrastive objectives with spectral filters and "
    "requires no labels during pretraining results transfer to molecular property prediction "
    "protein folding benchmarks and recommendation datasets with minimal tuning"
)
_WORDS = tuple(_PROSE.split(" "))
_FIRST = ("Alice", "Bo", "Chen", "Dmitri", "Elena", "Farah", "Giorgio", "Hana", "Ivan", "Jun")
_LAST = ("Smith", "Wang", "Okafor", "Müller", "García", "Nakamura", "Rossi", "Kim", "Dubois")
_TITLES = (
    "Sparse Graph Contrastive Learning at Scale",
    "When Do Language Models Forget? A Study of Continual Pretraining",
    "Efficient Attention for Long Documents via Hierarchical Pooling",
    "Robust Estimation of Causal Effects under Distribution Shift",
    "Protein Structure Prediction with Equivariant Transformers and Sparse Retrieval",
    "A Benchmark for Multilingual Question Answering over Scientific Tables",
)


@dataclass
class PaperSpec:
    """One generated first page and what a reader should find on it."""

    title: str
    authors: list[str]
    abstract: str
    layout: str = "one-column"
    heading: str = "Abstract"
    arxiv: str | None = None  # e.g. "2502.12067v1"
    doi: str | None = None
    year: int = 2024
    emails: bool = True
    superscripts: bool = True
    keywords: bool = True
    meta_title: str = "Microsoft Word - draft_v3.docx"
    affiliations: list[str] = field(
        default_factory=lambda: ["University of Somewhere, Department of Computer Science"]
    )


def random_spec(seed: int) -> PaperSpec:
    """A varied spec: layout, heading, stamp, DOI, marks chosen from the seed."""
    rng = random.Random(seed)
    n_sent = rng.randint(4, 8)
    sentences = []
    for _ in range(n_sent):
        words = rng.choices(_WORDS, k=rng.randint(12, 24))
        sentences.append(" ".join(words).capitalize() + ".")
    authors = [f"{rng.choice(_FIRST)} {rng.choice(_LAST)}" for _ in range(rng.randint(1, 5))]
    authors = list(dict.fromkeys(authors))
    title = rng.choice(_TITLES)
    if rng.random() < 0.5:
        title += f" {rng.choice(['Revisited', 'for Biology', 'in Practice', 'with Limited Data'])}"
    return PaperSpec(
        title=title,
        authors=authors,
        abstract=" ".join(sentences),
        layout=rng.choice(LAYOUTS),
        heading=rng.choice(HEADINGS),
        arxiv=f"{rng.randint(18, 25)}{rng.randint(1, 12):02d}.{rng.randint(1000, 19999):05d}v1"
        if rng.random() < 0.5
        else None,
        doi=f"10.{rng.randint(1000, 9999)}/j.x.{rng.randint(100, 999)}"
        if rng.random() < 0.5
        else None,
        year=rng.randint(2015, 2025),
        emails=rng.random() < 0.6,
        superscripts=rng.random() < 0.7,
        keywords=rng.random() < 0.6,
    )


def make_pdf(spec: PaperSpec, path: Path) -> Path:
    """Draw the spec's first page (and a second page of body text) into `path`."""
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=letter)
    c.setTitle(spec.meta_title)
    width, height = letter
    y = height - 60
    if spec.layout == "journal":
        c.setFont("Helvetica", 8)
        c.drawString(50, y, f"Journal of Applied Learning Research 12 ({spec.year}) 101-130")
        c.drawRightString(width - 50, y, "Contents lists available at ScienceDirect")
        y -= 40
    if spec.arxiv:
        _stamp(c, spec, height)
    y = _title(c, spec, width, y)
    y = _authors(c, spec, width, y)
    if spec.layout == "two-column":
        y = _abstract(c, spec, 50, 250, y, 9.5)
        _body(c, 50, 250, y - 10, 9.5)
        _body(c, 312, 250, height - 60 - 200, 9.5, first="the second column continues")
    else:
        left, w = (90, width - 180) if spec.layout == "one-column" else (50, width - 100)
        y = _abstract(c, spec, left, w, y, 10)
        _body(c, 50, width - 100, y - 16, 10)
    if spec.doi:
        c.setFont("Helvetica", 7)
        c.drawString(50, 40, f"https://doi.org/{spec.doi}")
    c.setFont("Times-Roman", 7)
    c.drawString(50, 30, f"Preprint. Copyright {spec.year} by the authors.")
    c.showPage()
    _body(c, 50, width - 100, height - 60, 10)
    c.showPage()
    c.save()
    return path


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    from reportlab.lib.utils import simpleSplit

    return simpleSplit(text, font, size, width)


def _stamp(c, spec: PaperSpec, height: float) -> None:  # type: ignore[no-untyped-def]
    c.saveState()
    c.setFont("Times-Roman", 20)
    c.setFillGray(0.5)
    c.translate(32, height / 2 - 150)
    c.rotate(90)
    c.drawString(0, 0, f"arXiv:{spec.arxiv}  [cs.LG]  17 Feb {spec.year}")
    c.restoreState()


def _title(c, spec: PaperSpec, width: float, y: float) -> float:  # type: ignore[no-untyped-def]
    size = 17
    for line in _wrap(spec.title, "Times-Bold", size, width - 140):
        c.setFont("Times-Bold", size)
        c.drawCentredString(width / 2, y, line)
        y -= size * 1.25
    return y - 12


def _authors(c, spec: PaperSpec, width: float, y: float) -> float:  # type: ignore[no-untyped-def]
    size = 11
    pieces: list[tuple[str, bool]] = []
    for i, name in enumerate(spec.authors):
        pieces.append((name, False))
        if spec.superscripts:
            pieces.append((f"{i % 2 + 1}" + ("*" if i == 0 else ""), True))
        if i < len(spec.authors) - 1:
            pieces.append((",  " if spec.superscripts else ", ", False))
    total = sum(c.stringWidth(t, "Times-Roman", 7 if sup else size) for t, sup in pieces)
    x = max(50, width / 2 - total / 2)
    for text, sup in pieces:
        font_size = 7 if sup else size
        c.setFont("Times-Roman", font_size)
        c.drawString(x, y + (4 if sup else 0), text)
        x += c.stringWidth(text, "Times-Roman", font_size)
    y -= 15
    c.setFont("Times-Roman", 9)
    for i, aff in enumerate(spec.affiliations + ["Institute for Advanced Study, Zurich"]):
        mark = f"{i + 1} " if spec.superscripts else ""
        c.drawCentredString(width / 2, y, mark + aff)
        y -= 11
    if spec.emails:
        c.setFont("Courier", 8)
        mails = ", ".join(f"{n.split()[-1].lower()}@example.org" for n in spec.authors[:3])
        c.drawCentredString(width / 2, y, mails)
        y -= 11
    return y - 16


def _abstract(  # type: ignore[no-untyped-def]
    c, spec: PaperSpec, left: float, width: float, y: float, size: float
) -> float:
    heading = spec.heading
    text = spec.abstract
    if heading in ("Abstract", "ABSTRACT", "A B S T R A C T"):
        c.setFont("Times-Bold", size + 2)
        if spec.layout == "one-column":
            c.drawCentredString(left + width / 2, y, heading)
        else:
            c.drawString(left, y, heading)
        y -= size * 1.8
    elif heading:  # inline: "Abstract—We propose..." / "Abstract. We propose..."
        text = f"{heading}{'' if heading.endswith('—') else ' '}{text}"
    for line in _wrap(text, "Times-Roman", size, width):
        c.setFont("Times-Roman", size)
        c.drawString(left, y, line)
        y -= size * 1.2
    if spec.keywords:
        y -= 6
        c.setFont("Times-Italic", size)
        label = "Index Terms—" if heading == "Abstract—" else "Keywords: "
        c.drawString(left, y, label + "graphs, contrastive learning, scalability")
        y -= size * 1.2
    return y - 8


def _body(  # type: ignore[no-untyped-def]
    c, left: float, width: float, y: float, size: float, first: str = ""
) -> None:
    if not first:
        c.setFont("Times-Bold", size + 2)
        c.drawString(left, y, "1 Introduction")
        y -= size * 1.8
    text = (first + " " if first else "") + (
        "Graphs are everywhere in science. Learning from them at scale is hard because "
        "neighbourhoods grow quickly with depth. "
    ) * 6
    for line in _wrap(text, "Times-Roman", size, width)[:14]:
        c.setFont("Times-Roman", size)
        c.drawString(left, y, line)
        y -= size * 1.2
