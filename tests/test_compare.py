"""The comparison table: sentences picked from real seed abstracts, Markdown and CSV exports."""

from __future__ import annotations

import csv
import io
import re

import pytest

from rag.answer.compare import EMPTY, Comparer, Row, csv_safe, to_csv, to_markdown, wants_comparison
from rag.pipeline import PaperChat
from rag.records import Answer, Citation, Hit, Paper, Passage
from rag.text import split_sentences

COMPARE_Q = "Compare the papers that shorten chain-of-thought reasoning"


def _cited(papers: list[Paper]) -> Answer:
    """An answer citing `papers` as [1], [2], ... (the comparison reads only its citations)."""
    hits = tuple(Hit(p, 1.0, (Passage(f"{p.id}:0", p.abstract, 1.0),)) for p in papers)
    cites = tuple(
        Citation(n, p.id, p.title, p.authors, p.year, "seeds", p.abstract[:80])
        for n, p in enumerate(papers, 1)
    )
    return Answer("q", "text", cites, False, "extractive", None, hits=hits)


def _by_title(session: PaperChat, word: str) -> Paper:
    return next(p for p in session.retriever.papers if p.title.startswith(word))


@pytest.mark.slow
def test_rows_follow_the_answers_numbering_with_sentences_of_each_abstract(
    seed_session: PaperChat,
) -> None:
    answer = seed_session.ask(COMPARE_Q, backend="extractive")
    assert len(answer.citations) >= 2
    rows = Comparer(seed_session.sentences).rows(answer)
    assert [r.n for r in rows] == [c.n for c in answer.citations]
    assert [r.title for r in rows] == [c.title for c in answer.citations]
    abstracts = {h.paper.title: h.paper.abstract for h in answer.hits}
    for row in rows:
        sentences = split_sentences(abstracts[row.title])
        filled = [row.cell(a) for a in ("problem", "proposal", "result")]
        assert sum(x is not None for x in filled) >= 2, row
        where = [sentences.index(x) for x in filled if x is not None]  # verbatim sentences
        assert where == sorted(where) and len(set(where)) == len(where)  # in order, distinct


@pytest.mark.slow
def test_each_aspect_gets_the_sentence_that_states_it(seed_session: PaperChat) -> None:
    tokenskip = _by_title(seed_session, "TokenSkip")
    steca = _by_title(seed_session, "STeCa")
    rows = Comparer(seed_session.sentences).rows(_cited([steca, tokenskip]))
    assert [r.n for r in rows] == [1, 2]
    assert "We propose Step-Level Trajectory Calibration" in (rows[0].proposal or "")
    assert "struggle in long-horizon tasks" in (rows[0].problem or "")
    assert "experiments" in (rows[0].result or "").lower()
    assert "we propose TokenSkip" in (rows[1].proposal or "")
    assert "inference latency" in (rows[1].problem or "")
    assert "reducing CoT token usage" in (rows[1].result or "")


@pytest.mark.slow
def test_the_problem_is_a_fault_found_not_praise_of_the_field(seed_session: PaperChat) -> None:
    habits = _by_title(seed_session, "Cognitive Behaviors that Enable Self-Improving")
    muffin = _by_title(seed_session, "Mitigating Unhelpfulness in Emotional Support")
    rows = Comparer(seed_session.sentences).rows(_cited([habits, muffin]))
    # not "Test-time inference has emerged as a powerful paradigm ... complex challenges"
    assert (rows[0].problem or "").startswith("This discrepancy raises a critical question")
    # not "An emotional support conversation system aims to ... address their challenges"
    assert (rows[1].problem or "").startswith("Nonetheless, previous models occasionally")


@pytest.mark.slow
def test_an_abstract_without_cues_leaves_cells_empty(seed_session: PaperChat) -> None:
    plain = Paper(
        "plainpaper",
        "A Plain Note",
        "Quantum widgets are small devices made of copper wire and glass beads. "
        "They come in blue and green and are sold in boxes of twelve.",
    )
    (row,) = Comparer(seed_session.sentences).rows(_cited([plain]))
    assert (row.problem, row.proposal, row.result) == (None, None, None)
    assert f"| [1] | A Plain Note | {EMPTY} | {EMPTY} | {EMPTY} | {EMPTY} |" in to_markdown([row])


def test_citations_without_their_paper_and_answers_citing_nothing_give_no_rows() -> None:
    answer = _cited([])
    assert Comparer(bank=None).rows(answer) == []  # type: ignore[arg-type]
    ghost = Citation(1, "gone", "Gone", (), None, "x", "")
    assert Comparer(bank=None).rows(Answer("q", "t", (ghost,), False, "x", None)) == []  # type: ignore[arg-type]


EVIL = Row(
    n=3,
    title='Evil <script>alert(1)</script> | "Quoted", title\nwith newline',
    year=None,
    link="https://doi.org/10.1/a)b>c",
    problem='=HYPERLINK("http://evil","x") breaks spreadsheets',
    proposal="-1+2 looks like a formula",
    result=None,
)
GOOD = Row(1, "TokenSkip", 2025, None, "Long CoT is slow.", "We propose TokenSkip.", "It works.")


def test_markdown_table_links_titles_cites_cells_and_escapes() -> None:
    md = to_markdown([GOOD, EVIL])
    lines = md.strip().split("\n")
    assert len(lines) == 4  # header, rule, two rows: the newline in the title did not split a row
    assert lines[0].startswith("| # | Paper | Year | Problem addressed")
    assert lines[2] == (
        "| [1] | TokenSkip | 2025 | Long CoT is slow. [1] | We propose TokenSkip. [1] "
        "| It works. [1] |"
    )
    evil = lines[3]
    assert "<script>" not in evil and r"\<script\>" in evil
    assert len(re.findall(r"(?<!\\)\|", evil)) == 7  # the title's pipe is escaped: 6 columns
    assert "(<https://doi.org/10.1/a)b%3Ec>)" in evil  # link kept whole inside <...>
    assert f"| {EMPTY} |" in evil  # no year, no result


def test_csv_is_valid_quoted_and_defused() -> None:
    text = to_csv([GOOD, EVIL])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["n", "title", "year", "link", "problem", "proposal", "result"]
    assert rows[1] == [
        "1",
        "TokenSkip",
        "2025",
        "",
        "Long CoT is slow.",
        "We propose TokenSkip.",
        "It works.",
    ]
    evil = rows[2]
    assert len(evil) == 7
    assert evil[1] == EVIL.title  # commas, quotes, newline and <script> survive as data
    assert evil[4].startswith("'=HYPERLINK")
    assert evil[5] == "'-1+2 looks like a formula"
    assert evil[6] == ""


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_neutralised(cell: str) -> None:
    assert csv_safe(cell) == "'" + cell


def test_plain_cells_are_left_alone() -> None:
    assert csv_safe("We propose X = Y.") == "We propose X = Y."


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Compare TokenSkip and STeCa", True),
        ("Which papers shorten chain-of-thought reasoning?", True),
        ("How do these approaches differ?", True),
        ("What does TokenSkip do?", False),
        ("Who wrote STeCa?", False),
    ],
)
def test_comparison_questions(question: str, expected: bool) -> None:
    assert wants_comparison(question) is expected
