"""Every loader: the three seed layouts and the user formats, good and malformed."""

from __future__ import annotations

from pathlib import Path

from rag.corpus.loaders import detect_layout, load_paths
from tests.conftest import SEEDS


def _by_file(result):  # type: ignore[no-untyped-def]
    return {Path(f.path).name[:3]: f for f in result.files}


def test_seed_layouts_detected_and_counted() -> None:
    result = load_paths([SEEDS])
    files = _by_file(result)
    assert {k: (f.layout, f.found) for k, f in files.items()} == {
        "000": ("author-list", 10),
        "001": ("daily-page", 85),
        "002": ("abstracts", 10),
        "003": ("abstracts", 10),
        "004": ("daily-page", 44),
    }
    assert all(not f.skipped and f.error is None for f in result.files)
    assert len(result.papers) == 157  # 159 records, two abstracts appear twice


def test_author_list_names_parsed_into_real_names() -> None:
    papers = {p.title: p for p in load_paths([SEEDS / "000_3db480d00edfd719.txt"]).papers}
    steca = papers["STeCa: Step-level Trajectory Calibration for LLM Agent Learning"]
    assert steca.authors == ("Hanlin Wang", "Jian Wang", "Chak Tou Leong", "Wenjie Li")
    assert all("Chak Tou Leong" in p.authors for p in papers.values())


def test_daily_page_keeps_author_count_and_date() -> None:
    papers = {p.title: p for p in load_paths([SEEDS / "004_00d5de5d7227f76c.txt"]).papers}
    inverse = papers["Inverse Scaling: When Bigger Isn't Better"]
    assert (inverse.n_authors, inverse.date, inverse.year, inverse.upvotes) == (
        27,
        "Jun 15, 2023",
        2023,
        0,
    )
    reuse = papers["Metacognitive Reuse: Turning Recurring LLM Reasoning Into Concise Behaviors"]
    assert (reuse.n_authors, reuse.date, reuse.year, reuse.upvotes) == (4, "Sep 16", None, 1)
    assert "Get trending papers in your email inbox!" not in papers
    assert papers["Simulating User Agents for Embodied Conversational-AI"].n_authors is None


def test_untitled_abstracts_get_a_derived_title() -> None:
    papers = load_paths([SEEDS / "003_26e3192963a7f04f.txt"]).papers
    assert all(p.title_derived for p in papers)
    assert all(
        0 < len(p.title) <= 91 and p.abstract.startswith(p.title.rstrip("…")) for p in papers
    )


def test_duplicates_merge_into_one_paper_with_both_sources() -> None:
    result = load_paths([SEEDS])
    treg = [p for p in result.papers if p.title.startswith("T-REG")]
    assert len(treg) == 1
    assert not treg[0].title_derived  # the real title wins over the derived one
    assert [s.split("/")[-1].split(":")[0][:3] for s in treg[0].sources] == ["001", "002"]
    assert _by_file(result)["002"].merged == 1


def test_ids_are_stable_and_content_based(tmp_path: Path) -> None:
    a = load_paths([SEEDS]).papers
    copy = tmp_path / "copy.txt"
    copy.write_text(
        (SEEDS / "002_bd0a92746cc09dbd.txt").read_text("utf-8").replace("  ", " "), "utf-8"
    )
    b = load_paths([copy]).papers
    assert {p.id for p in b} <= {p.id for p in a}


def test_layout_detected_from_content_not_name(tmp_path: Path) -> None:
    odd = tmp_path / "notes.md"
    odd.write_text((SEEDS / "000_3db480d00edfd719.txt").read_text("utf-8"), "utf-8")
    result = load_paths([odd])
    assert result.files[0].layout == "author-list" and len(result.papers) == 10
    assert detect_layout('{"abstract": "x"}') == "jsonl"
    assert detect_layout("@article{k,\n title={x}}") == "bibtex"
    assert detect_layout("title,abstract\nA,B") == "csv"


ABSTRACT = (
    "We present a method that does something useful for language models and evaluate it well. " * 2
)


def test_jsonl_good_and_malformed_lines(tmp_path: Path) -> None:
    f = tmp_path / "p.jsonl"
    f.write_text(
        f'{{"title": "Good", "abstract": "{ABSTRACT}", "authors": ["A B"], "year": 2024, "url": "http://x"}}\n'
        '{"title": "Truncated", "abstract": "oops\n'
        '["not", "an", "object"]\n'
        '{"title": "No abstract"}\n',
        "utf-8",
    )
    result = load_paths([f])
    (paper,) = result.papers
    assert (paper.title, paper.year, paper.url, paper.authors) == (
        "Good",
        2024,
        "http://x",
        ("A B",),
    )
    assert [(s.line, s.reason.split(" ")[0]) for s in result.files[0].skipped] == [
        (2, "invalid"),
        (3, "line"),
        (4, "empty"),
    ]


def test_csv_missing_and_extra_columns(tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text(
        "title,abstract,authors,year\n"
        f'Good,"{ABSTRACT}","Lovelace, Ada; Hopper, Grace",2022\n'
        "Short row,only two\n"
        f'Long row,"{ABSTRACT}",X,2020,extra\n',
        "utf-8",
    )
    result = load_paths([f])
    (paper,) = result.papers
    assert paper.authors == ("Ada Lovelace", "Grace Hopper") and paper.year == 2022
    reasons = [(s.line, s.reason) for s in result.files[0].skipped]
    assert reasons == [
        (3, "fewer fields than the header has"),
        (4, "more fields than the header has"),
    ]


def test_bibtex_entries(tmp_path: Path) -> None:
    f = tmp_path / "refs.bib"
    f.write_text(
        "@article{good2020,\n  title = {A {Braced} Title},\n"
        "  author = {Turing, Alan and Grace Hopper},\n"
        f"  year = 2020,\n  abstract = {{{ABSTRACT}}}\n}}\n\n"
        "@inproceedings{noabs, title={No Abstract Here}, year={2021}}\n\n"
        "@article{broken, title={Never closes, abstract={x}\n",
        "utf-8",
    )
    result = load_paths([f])
    (paper,) = result.papers
    assert (paper.title, paper.authors, paper.year) == (
        "A Braced Title",
        ("Alan Turing", "Grace Hopper"),
        2020,
    )
    skipped = [(s.line, s.reason) for s in result.files[0].skipped]
    assert skipped == [
        (8, "empty abstract (id noabs)"),
        (10, "unbalanced braces: the entry never closes"),
    ]


def test_unreadable_files_are_reported_not_raised(tmp_path: Path) -> None:
    (tmp_path / "latin.txt").write_bytes("Abstract: caf\xe9 ".encode("latin-1") * 50)
    (tmp_path / "blob.txt").write_bytes(b"\x00\x01\x02" * 100)
    (tmp_path / "empty.txt").write_text("", "utf-8")
    utf16 = tmp_path / "utf16.txt"
    utf16.write_text("Abstract:" + ABSTRACT, "utf-16")
    result = load_paths([tmp_path])
    errors = {Path(f.path).name: f.error for f in result.files}
    assert errors["latin.txt"] is None  # decoded as Windows-1252, with a note
    latin = next(f for f in result.files if f.path.endswith("latin.txt"))
    assert "Windows-1252" in latin.notes[0]
    assert "binary" in errors["blob.txt"]
    assert errors["empty.txt"] == "file is empty"
    assert errors["utf16.txt"] is None and len(result.papers) == 2
