"""Paper PDFs: title, authors, abstract and identifiers from page 1; bad PDFs are one warning.

Every PDF is generated here with reportlab (tests/pdfgen.py): one and two columns, the
abstract headed "Abstract", "ABSTRACT", "Abstract—", "A B S T R A C T" or not at all, journal
title pages, arXiv margin stamps, superscript affiliation marks, e-mails, junk metadata.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.corpus.loaders import SUFFIXES, detect_layout, load_paths
from rag.text import clean
from tests.pdfgen import HEADINGS, LAYOUTS, PaperSpec, make_pdf, random_spec

pytest.importorskip("reportlab")
runner = CliRunner()

ABSTRACT = (
    "We introduce tidal parsing, which reads token streams in waves so that a parser recovers "
    "from syntax errors without backtracking. We prove that it runs in linear time. On noisy "
    "source code from three languages it repairs 83% of the errors that a classic parser "
    "rejects, and it is twice as fast as the best error-correcting parser we know of."
)


def spec(**overrides: object) -> PaperSpec:
    base = PaperSpec(
        title="Tidal Parsing: Error Recovery without Backtracking",
        authors=["Alice Smith", "Bo Wang", "Elena García"],
        abstract=ABSTRACT,
    )
    for key, value in overrides.items():
        setattr(base, key, value)
    return base


def read_one(path: Path):  # type: ignore[no-untyped-def]
    result = load_paths([path])
    (report,) = result.files
    return result, report


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("heading", HEADINGS)
def test_title_authors_abstract_in_every_layout(tmp_path: Path, layout: str, heading: str) -> None:
    want = spec(layout=layout, heading=heading, arxiv="2502.12067v1", doi="10.1234/tidal.42")
    result, report = read_one(make_pdf(want, tmp_path / "paper.pdf"))
    assert report.layout == "pdf" and report.error is None, report
    (paper,) = result.papers
    assert paper.title == want.title and not paper.title_derived
    assert paper.abstract == clean(ABSTRACT)
    assert paper.authors == tuple(want.authors)  # no marks, no e-mails, no affiliations
    assert paper.arxiv_id == "2502.12067" and paper.doi == "10.1234/tidal.42"
    assert paper.year == want.year


def test_junk_metadata_title_is_never_used(tmp_path: Path) -> None:
    result, _ = read_one(
        make_pdf(spec(meta_title="Microsoft Word - draft_v3.docx"), tmp_path / "a.pdf")
    )
    assert result.papers[0].title == spec().title


def test_year_from_the_page_when_there_is_no_stamp(tmp_path: Path) -> None:
    result, _ = read_one(make_pdf(spec(arxiv=None, year=2019), tmp_path / "a.pdf"))
    assert result.papers[0].year == 2019 and result.papers[0].arxiv_id is None


def test_generated_set_share_right(tmp_path: Path) -> None:
    """The measurement of docs/formats.md, on 40 varied generated papers: all right."""
    right = 0
    for seed in range(40):
        want = random_spec(seed)
        result, _ = read_one(make_pdf(want, tmp_path / f"{seed}.pdf"))
        paper = result.papers[0] if result.papers else None
        right += bool(
            paper and paper.title == want.title and paper.abstract == clean(want.abstract)
        )
    assert right == 40


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _image_only(path: Path) -> Path:
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path))
    for i in range(20):
        c.rect(50 + i * 5, 400 + i * 3, 200, 20, fill=1)  # shapes, no text: a scan's look
    c.showPage()
    c.save()
    return path


def _encrypted(path: Path) -> Path:
    from reportlab.lib import pdfencrypt
    from reportlab.pdfgen import canvas

    enc = pdfencrypt.StandardEncryption("secret", canPrint=0)
    c = canvas.Canvas(str(path), encrypt=enc)
    c.drawString(72, 700, "A secret title")
    c.showPage()
    c.save()
    return path


def _no_abstract(path: Path) -> Path:
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path))
    c.setFont("Helvetica-Bold", 18)
    c.drawString(72, 700, "Quarterly Budget Slides")
    c.setFont("Helvetica", 10)
    c.drawString(72, 660, "Total: 12 items")
    c.showPage()
    c.save()
    return path


@pytest.mark.parametrize(
    "make, problem",
    [
        (_image_only, "no text layer"),
        (_encrypted, "encrypted"),
        (_no_abstract, "no abstract found"),
        (lambda p: _write(p, b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<"), "broken"),
        (lambda p: _write(p, b"%PDF-1.4\n" + bytes(range(256)) * 40), "broken"),
    ],
)
def test_bad_pdf_is_one_warning_line_naming_it(tmp_path: Path, make, problem: str) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path / "bad.pdf")
    result, report = read_one(path)
    assert not result.papers and report.error is not None and problem in report.error
    (line,) = report.warnings()
    assert line.startswith(str(path)) and "\n" not in line and problem in line


def test_truncated_real_pdf_is_reported_not_raised(tmp_path: Path) -> None:
    whole = make_pdf(spec(), tmp_path / "whole.pdf").read_bytes()
    for cut in (len(whole) // 3, len(whole) // 2, len(whole) - 200):
        path = tmp_path / f"cut{cut}.pdf"
        path.write_bytes(whole[:cut])
        result, report = read_one(path)
        # pdfminer may recover the first page from a cut file; either way: a paper or one line
        assert result.papers or (report.error and len(report.warnings()) == 1)


def test_pdfs_are_found_in_nested_folders_beside_other_formats(tmp_path: Path) -> None:
    assert ".pdf" in SUFFIXES
    (tmp_path / "zotero" / "storage" / "ABCD1234").mkdir(parents=True)
    make_pdf(spec(), tmp_path / "zotero" / "storage" / "ABCD1234" / "Smith - 2024 - Tidal.pdf")
    (tmp_path / "zotero" / "more.jsonl").write_text(
        json.dumps({"title": "Other", "abstract": ABSTRACT.replace("tidal", "lunar")}) + "\n"
    )
    result = load_paths([tmp_path / "zotero"])
    assert sorted(f.layout for f in result.files) == ["jsonl", "pdf"]
    assert len(result.papers) == 2


def test_pdf_content_is_detected_whatever_the_name(tmp_path: Path) -> None:
    path = tmp_path / "download.txt"
    make_pdf(spec(), path)
    result, report = read_one(path)
    assert report.layout == "pdf" and result.papers[0].title == spec().title
    assert detect_layout("%PDF-1.4 looks like text") != "pdf"  # text never detects as a PDF


@pytest.mark.slow
def test_ingested_pdf_is_listed_beside_existing_papers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_corpus: Path
) -> None:
    from ui.cli import app

    assert runner.invoke(app, ["ingest", str(small_corpus)]).exit_code == 0
    before = json.loads(runner.invoke(app, ["papers", "--json"]).stdout)
    folder = tmp_path / "pdfs"
    folder.mkdir()
    make_pdf(spec(arxiv="2502.12067v1"), folder / "tidal.pdf")
    _image_only(folder / "scan.pdf")
    result = runner.invoke(app, ["ingest", str(folder)])
    assert result.exit_code == 3, result.output  # the scan was skipped
    assert "scan.pdf: skipped file: PDF has no text layer" in result.output
    assert "Traceback" not in result.output
    after = json.loads(runner.invoke(app, ["papers", "--json"]).stdout)
    assert len(after) == len(before) + 1
    (new,) = [p for p in after if p["title"] == spec().title]
    assert new["arxiv_id"] == "2502.12067" and new["authors"] == spec().authors
    listing = runner.invoke(app, ["papers"]).stdout
    assert spec().title in listing and "tidal.pdf" in listing
