"""Bad input never misleads: every bad file is one line naming it, nothing is written on failure.

A corpus of bad files (truncated, binary, empty, one huge line, mixed encodings, unsupported
types, records with no abstract, truncated / encrypted / image-only PDFs) is generated here and
ingested, through the CLI, into an empty and into an existing index. Property-based tests
(hypothesis) feed every parser arbitrary text and bytes: the only outcome besides papers is
the documented skip.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rag.corpus.loaders import FORMATS, FileStream, load_paths
from rag.corpus.loaders.base import Draft, Skip, UnreadableFile
from tests.pdfgen import PaperSpec, make_pdf

runner = CliRunner()
GOOD = (
    "Harbor routing plans delivery drones around no-fly zones with a learned cost map. Flights "
    "become 17% shorter than with grid search and never cross a forbidden area."
)


def bad_corpus(root: Path, huge: bool = False) -> dict[str, str]:
    """Write the bad files; return {file name: a word its warning line must hold}."""
    root.mkdir(parents=True, exist_ok=True)
    want: dict[str, str] = {}

    def put(name: str, data: bytes | str, word: str) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        want[name] = word

    put("truncated.jsonl", '{"title": "Cut", "abstract": "We stud', "invalid JSON")
    put("truncated.json", '[\n  {"title": "Cut", "abstract": "We st', "invalid JSON")
    put("binary.txt", bytes(range(256)) * 64, "binary")
    put("empty.txt", b"", "empty")
    put("blank.csv", b"\n\n   \n", "empty")
    put("latin.txt", "Title\n\nAbstract caf\xe9 ".encode("latin-1") + b"\xff\xfe\x00" * 3, "")
    put("titles_only.jsonl", '{"title": "A"}\n{"title": "B"}\n', "empty abstract")
    put("no_abstract.bib", "@article{a, title={No abstract}, year={2020}}\n", "empty abstract")
    put("no_abstract.ris", "TY  - JOUR\nTI  - No abstract\nER  - \n", "empty abstract")
    put("no_abstract.csv", "title,abstract\nA,\n", "empty abstract")
    put("page.txt", "<!DOCTYPE html><html><body>hi</body></html>", "HTML")
    put("notes.docx", b"PK\x03\x04" + bytes(200), "not a supported file type")
    put("photo.jpg", b"\xff\xd8\xff\xe0" + bytes(200), "not a supported file type")
    put("deep/er/Makefile", "all:\n\techo hi\n", "not a supported file type")
    put("u16.txt", b"\xff\xfe" + "ok".encode("utf-16-le") + b"\x00\xd8\x00", "UTF-16")
    put("truncated.pdf", make_pdf(_spec(), root / "t.pdf").read_bytes()[:700], "PDF")
    (root / "t.pdf").unlink()
    put("scan.pdf", _image_only_pdf(), "no text layer")
    put("locked.pdf", _encrypted_pdf(), "encrypted")
    if huge:  # 50 MB on one line, no newline anywhere
        put("huge.txt", b"word " * (10 * 2**20), "too long")
    return want


def _spec() -> PaperSpec:
    return PaperSpec(title="Harbor Routing for Drones", authors=["Alice Smith"], abstract=GOOD)


def _image_only_pdf() -> bytes:
    import io

    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.rect(100, 400, 300, 200, fill=1)
    c.showPage()
    c.save()
    return buf.getvalue()


def _encrypted_pdf() -> bytes:
    import io

    from reportlab.lib import pdfencrypt
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, encrypt=pdfencrypt.StandardEncryption("pw"))
    c.drawString(72, 700, "Locked")
    c.showPage()
    c.save()
    return buf.getvalue()


def _lines(output: str) -> list[str]:
    return [ln for ln in output.splitlines() if ln.strip()]


def _check_reported(output: str, root: Path, want: dict[str, str]) -> None:
    """Each bad file is named on one warning line holding its problem; no traceback."""
    assert "Traceback" not in output
    assert "--rebuild" not in output and "did not write" not in output
    warnings = [ln for ln in _lines(output) if ln.startswith("warning:")]
    for name, word in want.items():
        mine = [ln for ln in warnings if str(root / name) in ln or ln.endswith(name)]
        mine = mine or [ln for ln in warnings if name in ln]
        if word:
            assert any(word in ln for ln in mine), (name, word, mine)


def test_every_loader_reports_each_bad_file_on_one_line(tmp_path: Path) -> None:
    want = bad_corpus(tmp_path / "bad")
    result = load_paths([tmp_path / "bad"])
    assert not result.papers
    named = {Path(f.path).relative_to(tmp_path / "bad").as_posix(): f for f in result.files}
    assert set(named) == set(want)
    for name, report in named.items():
        lines = report.warnings()
        assert lines and all("\n" not in ln for ln in lines), name
        assert any(want[name] in ln for ln in lines), (name, lines)


@pytest.mark.slow
@pytest.mark.parametrize("existing", [False, True], ids=["empty index", "existing index"])
def test_ingest_of_bad_files_writes_nothing_and_never_misleads(
    tmp_path: Path, small_corpus: Path, existing: bool
) -> None:
    from ui.cli import app

    if existing:
        assert runner.invoke(app, ["ingest", str(small_corpus)]).exit_code == 0
        before = (
            runner.invoke(app, ["stats", "--json"]).stdout,
            runner.invoke(app, ["papers", "--json"]).stdout,
        )
    want = bad_corpus(tmp_path / "bad", huge=True)
    result = runner.invoke(app, ["ingest", str(tmp_path / "bad")])
    assert result.exit_code == 3, result.output
    _check_reported(result.output, tmp_path / "bad", want)
    assert "0 added" in result.output
    if existing:
        after = (
            runner.invoke(app, ["stats", "--json"]).stdout,
            runner.invoke(app, ["papers", "--json"]).stdout,
        )
        assert after == before
        # each bad file named on its own: the same holds file by file
        for name in ("binary.txt", "scan.pdf", "notes.docx"):
            one = runner.invoke(app, ["ingest", str(tmp_path / "bad" / name)])
            assert one.exit_code == 3 and "Traceback" not in one.output, one.output
            assert "--rebuild" not in one.output
        assert runner.invoke(app, ["papers", "--json"]).stdout == before[1]
    else:
        stats = runner.invoke(app, ["stats", "--json"])  # no empty index was left behind
        assert stats.exit_code == 1 and "no index" in stats.output
        good = tmp_path / "good.jsonl"  # and the next ingest builds one as usual
        good.write_text(json.dumps({"title": "Harbor", "abstract": GOOD}) + "\n", "utf-8")
        assert runner.invoke(app, ["ingest", str(good)]).exit_code == 0
        assert json.loads(runner.invoke(app, ["stats", "--json"]).stdout)["papers"] == 1


@pytest.mark.slow
def test_a_file_that_turned_bad_keeps_its_papers(tmp_path: Path) -> None:
    """Re-ingesting a once-good file that is now unreadable never deletes what it gave."""
    from ui.cli import app

    path = tmp_path / "papers.jsonl"
    path.write_text(json.dumps({"title": "Harbor", "abstract": GOOD}) + "\n", "utf-8")
    assert runner.invoke(app, ["ingest", str(path)]).exit_code == 0
    before = runner.invoke(app, ["papers", "--json"]).stdout
    path.write_bytes(bytes(range(256)) * 8)  # now binary
    result = runner.invoke(app, ["ingest", str(path)])
    assert result.exit_code == 3 and "binary" in result.output
    assert runner.invoke(app, ["papers", "--json"]).stdout == before


# --- property-based: parsers never raise on arbitrary input --------------------------------

_TEXT_FORMATS = [f for f in FORMATS if f.parse is not None]


@pytest.mark.parametrize("fmt", _TEXT_FORMATS, ids=[f.name for f in _TEXT_FORMATS])
@given(text=st.text(max_size=400))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_text_parsers_never_raise(fmt, text: str) -> None:  # type: ignore[no-untyped-def]
    assert fmt.parse is not None
    drafts, skips = fmt.parse(text)
    assert all(isinstance(d, Draft) for d in drafts) and all(isinstance(s, Skip) for s in skips)


_SHAPED = st.one_of(
    st.text(max_size=300),
    st.builds(lambda t: "@article{k,\n abstract = {" + t, st.text(max_size=200)),
    st.builds(lambda t: "TY  - JOUR\nAB  - " + t, st.text(max_size=200)),
    st.builds(lambda t: '[{"abstract": "' + t, st.text(max_size=200)),
    st.builds(lambda t: '{"abstract": ' + t, st.text(max_size=200)),
    st.builds(lambda t: "title,abstract\n" + t, st.text(max_size=200)),
)


@given(text=_SHAPED)
@settings(max_examples=150, deadline=None)
def test_every_format_parses_format_shaped_garbage(text: str) -> None:
    for fmt in _TEXT_FORMATS:
        assert fmt.parse is not None
        fmt.parse(text)


@given(data=st.binary(max_size=2000))
@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_bytes_in_a_file_give_papers_or_warnings(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "any.txt"
    path.write_bytes(data)
    stream = FileStream(path)
    list(stream)
    assert all("\n" not in ln for ln in stream.report.warnings())


@given(data=st.binary(max_size=3000), cut=st.integers(min_value=0, max_value=3000))
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_pdf_reader_only_raises_the_documented_skip(tmp_path: Path, data: bytes, cut: int) -> None:
    from rag.corpus.loaders.pdf import parse_pdf

    path = tmp_path / "x.pdf"
    path.write_bytes((b"%PDF-1.4\n" + data)[: max(cut, 9)])
    try:
        parse_pdf(path)
    except UnreadableFile as exc:
        assert "\n" not in str(exc)
