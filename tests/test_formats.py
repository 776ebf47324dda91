"""The formats people hold: BEIR JSONL, arXiv snapshots, CSL-JSON, RIS; kept identifiers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag import identifiers
from rag.corpus.loaders import detect_layout, load_paths
from rag.corpus.loaders.fields import split_authors
from tests.conftest import make_settings

A1 = (
    "Alterations of the architecture of cerebral white matter in the developing human brain can "
    "affect cortical development and result in functional disabilities."
)
A2 = (
    "We study quantum widgets and their entanglement properties in noisy channels. Our widgets "
    "improve fidelity by 12% over classical baselines on three benchmarks."
)
A3 = (
    "Sparse gardens are a new data structure for approximate nearest neighbour search. They cut "
    "memory use in half while keeping recall above 95% on standard datasets."
)
A4 = (
    "Tidal parsing reads streams of tokens in waves, so a parser can recover from errors without "
    "backtracking. We prove it runs in linear time and evaluate it on noisy source code."
)


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def load_one(path: Path):  # type: ignore[no-untyped-def]
    result = load_paths([path])
    return result, {p.title: p for p in result.papers}, result.files[0]


def test_beir_jsonl_reads_id_title_text(tmp_path: Path) -> None:
    rows = [
        {"_id": "4983", "title": "White matter", "text": A1, "metadata": {}},
        {"_id": "5", "title": "No text", "text": ""},
    ]
    path = write(tmp_path / "corpus.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    result, papers, report = load_one(path)
    paper = papers["White matter"]
    assert (paper.abstract, paper.source_ids, paper.doi, paper.arxiv_id) == (
        A1,
        ("4983",),
        None,
        None,
    )
    assert [(s.line, s.reason) for s in report.skipped] == [(2, "empty abstract (id 5)")]


def test_arxiv_snapshot_record(tmp_path: Path) -> None:
    record = {
        "id": "2101.01234",
        "submitter": "Alice Smith",
        "authors": "Alice Smith, Bo Chen and Carol Diaz (MIT)",
        "title": "Widgets",
        "doi": "10.1000/XYZ.1",
        "categories": "cs.LG",
        "abstract": "  " + A2 + "\n",
        "versions": [{"version": "v1", "created": "Mon, 4 Jan 2021 10:00:00 GMT"}],
        "update_date": "2022-03-01",
    }
    bare = {"id": "hep-th/9901001", "title": "Old", "abstract": A3, "authors": "A B",
            "update_date": "2008-11-13", "categories": "hep-th"}  # fmt: skip
    path = write(tmp_path / "arxiv.json", json.dumps(record) + "\n" + json.dumps(bare) + "\n")
    _, papers, report = load_one(path)
    widgets = papers["Widgets"]
    assert widgets.authors == ("Alice Smith", "Bo Chen", "Carol Diaz")
    assert (widgets.year, widgets.arxiv_id, widgets.doi) == (2021, "2101.01234", "10.1000/xyz.1")
    assert widgets.url is None  # links are made from identifiers: rag.answer.references
    assert (papers["Old"].year, papers["Old"].arxiv_id) == (2008, "hep-th/9901001")
    assert report.layout == "jsonl" and not report.skipped


def test_authors_parsed_is_preferred_when_present(tmp_path: Path) -> None:
    record = {"id": "0704.0001", "title": "P", "abstract": A2, "authors": "A. Smith and B. Chen",
              "authors_parsed": [["Smith", "Alice", ""], ["Chen", "Bo", "Jr"]]}  # fmt: skip
    _, papers, _ = load_one(write(tmp_path / "a.jsonl", json.dumps(record)))
    assert papers["P"].authors == ("Alice Smith", "Bo Chen Jr")


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Alice Smith, Bo Chen and Carol Diaz", ("Alice Smith", "Bo Chen", "Carol Diaz")),
        ("Alice Smith, Bo Chen, and Carol Diaz", ("Alice Smith", "Bo Chen", "Carol Diaz")),
        ("Smith, Alice and Chen, Bo", ("Alice Smith", "Bo Chen")),
        ("Grace Hopper; Turing, Alan", ("Grace Hopper", "Alan Turing")),
        ("Alice Smith & Bo Chen", ("Alice Smith", "Bo Chen")),
        ("Ada Lovelace", ("Ada Lovelace",)),
    ],
)
def test_author_strings(text: str, names: tuple[str, ...]) -> None:
    assert split_authors(text) == names


def test_identifier_normalisation() -> None:
    assert identifiers.normalize_doi("https://doi.org/10.1145/ABC.123") == "10.1145/abc.123"
    assert identifiers.normalize_doi("doi:10.1000/x.") == "10.1000/x"
    assert identifiers.normalize_doi("not a doi") is None
    assert identifiers.normalize_arxiv("arXiv:2101.01234v3") == "2101.01234"
    assert identifiers.normalize_arxiv("https://arxiv.org/pdf/2101.01234v2.pdf") == "2101.01234"
    assert identifiers.normalize_arxiv("4983") is None


CSL = [
    {
        "id": "http://zotero.org/users/1/items/ABC",
        "type": "article-journal",
        "title": "Sparse gardens",
        "author": [{"family": "Hopper", "given": "Grace"}, {"literal": "The Garden Team"}],
        "issued": {"date-parts": [[2023, 5, 2]]},
        "DOI": "10.5555/Gardens",
        "URL": "https://example.org/gardens",
        "abstract": A3,
    },
    {"id": "nodesc", "type": "book", "title": "No abstract", "DOI": "10.5555/none"},
    {"id": "arx", "title": "Tidal", "abstract": A4, "URL": "https://arxiv.org/abs/2301.00001v2"},
]


def test_csl_json_array_is_read_not_taken_for_a_page(tmp_path: Path) -> None:
    text = json.dumps(CSL, indent=2)
    assert detect_layout(text) == "json" and detect_layout(json.dumps(CSL)) == "json"
    assert detect_layout("[A linked title](https://x.org)\nSome text\n") == "daily-page"
    _, papers, report = load_one(write(tmp_path / "My Library.json", text))
    gardens = papers["Sparse gardens"]
    assert gardens.authors == ("Grace Hopper", "The Garden Team")
    assert (gardens.year, gardens.doi, gardens.url) == (
        2023,
        "10.5555/gardens",
        "https://example.org/gardens",
    )
    assert gardens.source_ids == ("http://zotero.org/users/1/items/ABC",)
    assert papers["Tidal"].arxiv_id == "2301.00001"
    assert [s.reason for s in report.skipped] == ["empty abstract (doi 10.5555/none)"]
    assert report.skipped[0].line == text.splitlines().index("  {", 2) + 1


def test_broken_item_in_a_json_array_costs_only_itself(tmp_path: Path) -> None:
    good = [json.dumps(CSL[0], indent=2), json.dumps(CSL[2], indent=2)]
    text = (
        "[\n" + good[0] + ',\n{\n  "title": "broken",\n  "abstract": oops\n},\n' + good[1] + "\n]"
    )
    text = "[\n" + "\n".join("  " + ln for ln in text.splitlines()[1:-1]) + "\n]\n"
    result, papers, report = load_one(write(tmp_path / "lib.json", text))
    assert set(papers) == {"Sparse gardens", "Tidal"}
    assert len(report.skipped) == 1 and "invalid JSON in array item 2" in report.skipped[0].reason
    lines = [w for f in result.files for w in f.warnings()]
    assert all("\n" not in w and "lib.json" in w for w in lines)


def test_huge_single_line_array_and_object_wrapper(tmp_path: Path) -> None:
    filler = [
        {"id": f"f{i}", "title": f"T{i}", "abstract": f"{A2} Variant number {i}."}
        for i in range(8000)
    ]
    path = write(tmp_path / "one-line.json", json.dumps(filler))  # > 1,000,000 characters
    assert path.stat().st_size > 1_000_000
    result, _, report = load_one(path)
    assert len(result.papers) == 8000 and not report.skipped
    wrapped = write(tmp_path / "wrapped.json", json.dumps({"items": CSL[:1]}, indent=1))
    assert [p.title for p in load_paths([wrapped]).papers] == ["Sparse gardens"]


def test_truncated_json_array_keeps_what_came_before(tmp_path: Path) -> None:
    text = json.dumps(CSL, indent=2)
    cut = text[: text.index('"Tidal"')]
    result, papers, report = load_one(write(tmp_path / "cut.json", cut))
    assert set(papers) == {"Sparse gardens"} and report.skipped


RIS = """TY  - JOUR
AU  - Lovelace, Ada
AU  - Babbage, Charles
TI  - Quantum widgets
AB  - {a2_head}
      {a2_tail}
PY  - 2021///
DO  - 10.1234/QW
UR  - https://example.org/qw
ID  - qw2021
ER  -

TY  - JOUR
TI  - Gardens without an end tag
N2  - {a3}
PY  - 2019
TY  - CHAP
TI  - Only a title
DO  - 10.1234/only
ER  -
TY  - JOUR
T1  - Tidal, unterminated at the end
AB  - {a4}
"""


def test_ris_records_missing_er_and_wrapped_lines(tmp_path: Path) -> None:
    head, tail = A2.split(". ", 1)
    text = RIS.format(a2_head=head + ".", a2_tail=tail, a3=A3, a4=A4)
    assert detect_layout(text) == "ris"
    result, papers, report = load_one(write(tmp_path / "export.ris", text))
    widgets = papers["Quantum widgets"]
    assert widgets.abstract == A2
    assert widgets.authors == ("Ada Lovelace", "Charles Babbage")
    assert (widgets.year, widgets.doi, widgets.source_ids) == (2021, "10.1234/qw", ("qw2021",))
    assert papers["Gardens without an end tag"].year == 2019
    assert "Tidal, unterminated at the end" in papers
    assert [(s.line, s.reason) for s in report.skipped] == [
        (17, "empty abstract (doi 10.1234/only)")
    ]
    assert any("line 13: record has no ER tag" in n for n in report.notes)
    assert result.skipped == 1  # notes are not skips: the records were read


def test_ris_file_is_found_in_a_folder(tmp_path: Path) -> None:
    write(tmp_path / "refs.ris", RIS.format(a2_head=A2, a2_tail="", a3=A3, a4=A4))
    assert len(load_paths([tmp_path]).papers) == 3


def test_mixed_encodings_decode_line_by_line(tmp_path: Path) -> None:
    utf8 = json.dumps({"title": "Café widgets", "abstract": A2}, ensure_ascii=False).encode()
    cp = json.dumps({"title": "Müller gardens", "abstract": A3}, ensure_ascii=False)
    path = write(tmp_path / "mixed.jsonl", utf8 + b"\n" + cp.encode("cp1252") + b"\n")
    _, papers, report = load_one(path)
    assert set(papers) == {"Café widgets", "Müller gardens"}
    assert "lines 2 decoded as Windows-1252" in report.notes[0]


def test_merging_keeps_the_union_of_identifiers(tmp_path: Path) -> None:
    write(tmp_path / "a.jsonl", json.dumps({"_id": "7", "title": "W", "text": A2}) + "\n")
    csl = [{"id": "zot-1", "title": "W", "abstract": A2, "DOI": "10.1000/w"}]
    write(tmp_path / "b.json", json.dumps(csl, indent=2))
    write(
        tmp_path / "c.jsonl", json.dumps({"id": "2101.00002", "categories": "cs", "abstract": A2})
    )
    (paper,) = load_paths([tmp_path]).papers
    assert paper.source_ids == ("7", "zot-1", "2101.00002")
    assert (paper.doi, paper.arxiv_id) == ("10.1000/w", "2101.00002")


def test_identifiers_survive_ingest_reload_and_relabel(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    from rag.index import catalog
    from rag.index.writer import ingest
    from rag.retrieval.retrieve import Retriever

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write(corpus / "a.jsonl", json.dumps({"_id": "7", "title": "W", "text": A2}) + "\n")
    settings = make_settings(tmp_path / "idx")
    ingest([corpus], settings, embedder)
    write(corpus / "b.json", json.dumps([{"id": "z", "abstract": A2, "DOI": "10.1000/w"}]))
    report = ingest([corpus], settings, embedder)
    assert report.chunks_embedded == 0  # a new identifier relabels, it does not re-embed
    (from_catalog,) = catalog.contents(settings).papers
    catalog.path_for(settings).unlink()
    (from_chroma,) = Retriever(settings, embedder).papers
    for paper in (from_catalog, from_chroma):
        assert (paper.source_ids, paper.doi) == (("7", "z"), "10.1000/w")


def test_a_collaboration_of_hundreds_keeps_its_first_authors_and_count(
    tmp_path: Path,
    embedder,  # type: ignore[no-untyped-def]
) -> None:
    """An arXiv record with 3,000 authors: every metadata value stays within Chroma Cloud's
    4,096 bytes; the paper keeps its first authors (found by author) and the full count."""
    from rag.answer.references import bibtex_entry
    from rag.index import catalog
    from rag.index.store import MAX_VALUE_BYTES, iter_chunks, open_collection
    from rag.index.writer import ingest
    from rag.retrieval.retrieve import Retriever

    names = [f"Author{i} Collaborator{i}" for i in range(3000)]
    record = {"id": "2401.00001", "title": "A Big Detector", "abstract": A2}
    record["authors"] = ", ".join(names[:-1]) + " and " + names[-1]
    write(tmp_path / "arxiv.jsonl", json.dumps(record) + "\n")
    settings = make_settings(tmp_path / "idx")
    ingest([tmp_path / "arxiv.jsonl"], settings, embedder)
    for chunk in iter_chunks(open_collection(settings)):
        assert all(len(str(v).encode()) <= MAX_VALUE_BYTES for v in chunk.meta.values())
    (paper,) = catalog.contents(settings).papers
    assert paper.n_authors == 3000 and 50 < len(paper.authors) < 3000
    assert paper.authors == tuple(names[: len(paper.authors)])
    assert f"{paper.authors[-1]} and others}}" in bibtex_entry(paper)
    hits = Retriever(settings, embedder).search("What has Author1 Collaborator1 worked on?", 3)
    assert hits.author and hits.hits[0].paper.title == "A Big Detector"


# --- bad input: one-line warnings, good records kept, nothing half-written -------------------


def test_json_array_of_mixed_encodings_is_read_byte_by_byte(tmp_path: Path) -> None:
    utf8 = json.dumps({"title": "Café widgets", "abstract": A2}, ensure_ascii=False).encode()
    cp = json.dumps({"title": "Müller gardens", "abstract": A3}, ensure_ascii=False)
    path = write(tmp_path / "lib.json", b"[\n  " + utf8 + b",\n  " + cp.encode("cp1252") + b"\n]")
    _, papers, report = load_one(path)
    assert set(papers) == {"Café widgets", "Müller gardens"} and report.layout == "json array"
    assert report.notes == (
        "not UTF-8; 1 bytes decoded as Windows-1252/Latin-1, the rest as UTF-8 (re-save it as "
        "UTF-8 if accents look wrong)",
    )


def test_identifier_without_abstract_is_named_in_its_warning(tmp_path: Path) -> None:
    lines = [
        {"id": "2101.00001", "title": "arXiv, no abstract", "categories": "cs.CL", "abstract": ""},
        {"_id": "doc-9", "title": "BEIR, no text", "text": "  "},
        {"_id": "doc-10", "title": "Kept", "text": A1},
        {"DOI": "https://doi.org/10.5555/ABC", "title": "DOI only"},
    ]
    path = write(tmp_path / "mixed.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    result, papers, report = load_one(path)
    assert set(papers) == {"Kept"}
    assert report.warnings() == [
        f"{path}: skipped line 1: empty abstract (arXiv 2101.00001)",
        f"{path}: skipped line 2: empty abstract (id doc-9)",
        f"{path}: skipped line 4: empty abstract (doi 10.5555/abc)",
    ]


def test_utf16_broken_mid_file_keeps_what_came_before(tmp_path: Path) -> None:
    lines = [json.dumps({"title": f"W{i}", "abstract": f"{A2} Case {i}."}) for i in range(60)]
    raw = ("\n".join(lines) + "\n").encode("utf-16")  # ~28 KB
    path = write(tmp_path / "u16.jsonl", raw + b"\x00\xd8" + "\n".encode("utf-16-le") * 9000)
    _, papers, report = load_one(path)
    (skip,) = report.skipped
    assert skip.reason == "not valid UTF-16 from this line on; the rest is not read"
    # decoded 8 KB at a time: the records of the piece holding the bad bytes go with it
    assert 40 <= len(papers) == skip.line - 1 < 60
    assert set(papers) == {f"W{i}" for i in range(len(papers))}


def test_bad_records_leave_only_whole_good_papers_in_the_index(
    tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from collections import Counter

    from rag.index.store import open_collection
    from ui.cli import app

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    good = [json.dumps({"id": f"2101.0000{i}", "abstract": a}) for i, a in enumerate((A1, A2))]
    write(
        corpus / "snapshot.jsonl",
        "\n".join([good[0], '{"id": "2101.00009", "categories": "cs.CL"}', "{oops", good[1]])
        + "\n"
        + good[1][:40],  # a download cut mid-record
    )
    write(corpus / "refs.ris", RIS.format(a2_head=A3, a2_tail="", a3=A4, a4=A4))
    settings = make_settings(tmp_path / "idx", chunk_tokens=32)
    from rag.index.writer import ingest

    report = ingest([corpus], settings, embedder)
    assert report.papers_total == 4 and report.skipped == 5  # RIS: no abstract, a repeat
    warnings = [w for f in report.files for w in f.warnings()]
    assert all("\n" not in w and ("refs.ris" in w or "snapshot.jsonl" in w) for w in warnings)
    assert any("line 2: empty abstract (arXiv 2101.00009)" in w for w in warnings)
    assert any("line 5: invalid JSON" in w for w in warnings)
    metas = open_collection(settings).get(include=["metadatas"])["metadatas"] or []
    per_paper = Counter(str(m["paper_id"]) for m in metas)
    assert len(per_paper) == 4
    assert per_paper == Counter({str(m["paper_id"]): int(m["n_chunks"]) for m in metas})
    monkeypatch.setenv("PAPERCHAT_DATA_DIR", str(tmp_path / "idx"))
    monkeypatch.setenv("PAPERCHAT_CHUNK_TOKENS", "32")
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["ingest", str(corpus)])
    assert result.exit_code == 3 and "Traceback" not in result.output, result.output
    assert "0 added, 0 updated, 4 unchanged" in result.stdout


def test_utf16_json_array_broken_part_way_reports_what_was_read(tmp_path: Path) -> None:
    items = [json.dumps({"title": f"W{i}", "abstract": f"{A2} Case {i}."}) for i in range(7000)]
    raw = ("[\n" + ",\n".join(items) + ",\n").encode("utf-16")  # 1.4M characters, 2.8 MB
    path = write(tmp_path / "u16.json", raw + b"\x00\xd8" + "]".encode("utf-16-le") * 9000)
    result, papers, report = load_one(path)
    assert report.layout == "json array"
    assert report.error == (
        f"not valid UTF-16 in the piece read up to byte {path.stat().st_size:,}; "
        "the records before that piece were read"
    )
    assert 4000 < report.found == len(papers) < 7000  # the first 1M-character piece was read
    (line,) = report.warnings()
    assert line.startswith(f"{path}: skipped file: not valid UTF-16")
