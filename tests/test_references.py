"""Links from identifiers, and an answer exported as BibTeX and Markdown."""

from __future__ import annotations

from pathlib import Path

from rag.answer.references import (
    answer_bibtex,
    best_link,
    citation_record,
    paper_links,
    to_bibtex,
    to_markdown,
)
from rag.corpus.loaders import load_paths
from rag.records import Answer, Citation, Hit, Paper

ABSTRACT = (
    "We study quantum widgets and their entanglement properties in noisy channels. Our widgets "
    "improve fidelity by 12% & more over classical_baselines {on} three benchmarks."
)
DOI_PAPER = Paper(
    id="p1",
    title="Quantum Widgets: 100% {better}",
    abstract=ABSTRACT,
    authors=("Ada Lovelace", "Grace Hopper"),
    year=2021,
    url="https://example.org/qw",
    doi="10.1234/qw",
    arxiv_id="2101.01234",
    source_ids=("7", "zot-1"),
)
ARXIV_PAPER = Paper(
    id="p2", title="Sparse Gardens", abstract=ABSTRACT + " Gardens.", arxiv_id="2301.00001"
)
PLAIN = Paper(
    id="p3",
    title="Tidal [Parsing]",
    abstract=ABSTRACT + " Tides.",
    authors=("Ada Lovelace",),
    year=2021,
)


def citation(n: int, paper: Paper) -> Citation:
    return Citation(n, paper.id, paper.title, paper.authors, paper.year, "f.jsonl", "passage")


ANSWER = Answer(
    question="What are quantum widgets?",
    text="Widgets improve fidelity [1]. Gardens are sparse [2]. Tides parse [3].",
    citations=(citation(1, DOI_PAPER), citation(2, ARXIV_PAPER), citation(3, PLAIN)),
    abstained=False,
    backend="extractive",
    model=None,
    hits=tuple(Hit(p, 1.0, ()) for p in (DOI_PAPER, ARXIV_PAPER, PLAIN)),
)


def test_links_prefer_doi_then_arxiv_then_url() -> None:
    assert paper_links(DOI_PAPER) == {
        "doi": "https://doi.org/10.1234/qw",
        "arxiv": "https://arxiv.org/abs/2101.01234",
        "url": "https://example.org/qw",
    }
    assert best_link(ARXIV_PAPER) == "https://arxiv.org/abs/2301.00001"
    assert best_link(PLAIN) is None
    assert best_link(Paper(id="x", title="t", abstract="a", url="javascript:alert(1)")) is None


def test_citation_record_for_json_output() -> None:
    record = citation_record(ANSWER.citations[0], DOI_PAPER)
    assert record["n"] == 1 and record["doi"] == "10.1234/qw"
    assert record["source_ids"] == ["7", "zot-1"] and record["link"] == "https://doi.org/10.1234/qw"
    missing = citation_record(ANSWER.citations[2], None)
    assert missing["link"] is None and missing["links"] == {}


def test_markdown_lists_numbered_linked_references() -> None:
    md = to_markdown(ANSWER)
    assert md.startswith("**Q:** What are quantum widgets?\n\nWidgets improve fidelity [1].")
    refs = md.split("## References\n\n", 1)[1].splitlines()
    assert refs[0] == (
        "[1] Ada Lovelace, Grace Hopper (2021). *Quantum Widgets: 100% {better}*. "
        "[doi:10.1234/qw](https://doi.org/10.1234/qw) "
        "[arXiv:2101.01234](https://arxiv.org/abs/2101.01234)"
    )
    assert refs[1] == "[2] *Sparse Gardens*. [arXiv:2301.00001](https://arxiv.org/abs/2301.00001)"
    assert refs[2] == "[3] Ada Lovelace (2021). *Tidal \\[Parsing\\]*."


def test_bibtex_keys_are_unique_and_values_safe() -> None:
    bib = to_bibtex([DOI_PAPER, PLAIN, DOI_PAPER])
    assert bib.count("@article{") == 2  # the repeated paper once
    assert "@article{lovelace2021quantum," in bib and "@article{lovelace2021tidal," in bib
    assert "doi = {10.1234/qw}" in bib and "eprint = {2101.01234}" in bib
    assert "100\\% (better)" in bib and "12\\% \\& more over classical\\_baselines (on)" in bib
    assert bib.count("{") == bib.count("}")


def test_answer_bibtex_reads_back_with_its_identifiers(tmp_path: Path) -> None:
    bib = answer_bibtex(ANSWER)
    assert bib.index("@article{lovelace2021quantum,") < bib.index("@misc{sparse,")
    path = tmp_path / "refs.bib"
    path.write_text(bib, encoding="utf-8")
    papers = {p.title: p for p in load_paths([path]).papers}
    back = papers["Quantum Widgets: 100% (better)"]
    assert (back.doi, back.arxiv_id, back.year) == ("10.1234/qw", "2101.01234", 2021)
    assert back.authors == ("Ada Lovelace", "Grace Hopper")
    assert papers["Sparse Gardens"].arxiv_id == "2301.00001"
