"""The evaluation harness: metric functions, the quality gate on the dev set, `paperchat eval`."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eval import metrics as m
from eval.harness import (
    QuestionFileError,
    gate_failures,
    judge_answer,
    load_questions,
    run_eval,
)
from eval.report import PLOTS
from rag.answer.llm import ChatMessage, LLMUnavailable
from rag.config import Settings
from rag.pipeline import PaperChat
from rag.records import Answer, Citation, Hit, Paper

QUESTIONS = Path(__file__).resolve().parents[1] / "eval" / "questions.jsonl"


def paper(pid: str, title: str = "", abstract: str = "") -> Paper:
    return Paper(pid, title or f"Title {pid}", abstract or f"Abstract of paper {pid}. " * 5)


# --- metric functions on hand-made rankings ----------------------------------------------


def test_gold_matching_by_id_title_or_long_abstract_prefix() -> None:
    p = paper("abc", "A Study of Widgets", "We study   widgets in depth and find that it works.")
    assert m.matches("abc", p)
    assert m.matches("A Study of Widgets", p)
    assert not m.matches("A study of widgets", p)  # titles match exactly
    assert m.matches("We study widgets in depth and find that it", p)  # >= 40 chars
    assert not m.matches("We study widgets", p)  # a short prefix is not enough
    ranked = [paper("x"), p, paper("y"), paper("z")]
    assert m.gold_ranks(ranked, ["abc", "z", "missing"]) == [1, 3]


def test_recall_is_capped_by_the_number_of_gold_papers() -> None:
    assert m.recall_at_k([0], 1, 5) == 1.0
    assert m.recall_at_k([6], 1, 5) == 0.0
    assert m.recall_at_k([0, 3], 3, 5) == pytest.approx(2 / 3)
    # ten gold papers, all five slots gold: capped at min(10, 5)
    assert m.recall_at_k(range(5), 10, 5) == 1.0
    assert m.recall_at_k([0, 1, 7], 10, 5) == pytest.approx(2 / 5)
    assert m.recall_at_k([], 0, 5) == 0.0


def test_all_gold_needs_every_gold_paper_in_the_top_k() -> None:
    assert m.all_gold_at_k([0, 4], 2, 5) == 1.0
    assert m.all_gold_at_k([0, 5], 2, 5) == 0.0
    assert m.all_gold_at_k(range(5), 10, 5) == 0.0  # more gold than slots: unreachable


def test_mrr_uses_the_first_gold_paper_within_the_cutoff() -> None:
    assert m.mrr_at_k([0, 3]) == 1.0
    assert m.mrr_at_k([2, 5]) == pytest.approx(1 / 3)
    assert m.mrr_at_k([4], k=4) == 0.0
    assert m.mrr_at_k([]) == 0.0


def test_ndcg_with_binary_gains() -> None:
    assert m.ndcg_at_k([0, 1], 2) == pytest.approx(1.0)
    # one gold paper at rank 3 (0-based 2): 1/log2(4) over ideal 1/log2(2)
    assert m.ndcg_at_k([2], 1) == pytest.approx(0.5)
    # two gold papers at ranks 1 and 3: (1 + 1/log2(4)) / (1 + 1/log2(3))
    assert m.ndcg_at_k([0, 2], 2) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    assert m.ndcg_at_k([10], 1, k=10) == 0.0


def test_citation_precision_and_recall() -> None:
    assert m.citation_precision([True, False, False, False]) == 0.25
    assert m.citation_precision([True, True]) == 1.0
    assert m.citation_precision([]) is None
    assert m.citation_recall(1, 1, 5) == 1.0
    assert m.citation_recall(1, 3, 5) == pytest.approx(1 / 3)
    assert m.citation_recall(5, 10, 5) == 1.0  # capped like recall@k
    assert m.citation_recall(8, 10, 5) == 1.0  # never above 1
    assert m.citation_recall(0, 2, 5) == 0.0


def test_fact_coverage_ignores_case_and_whitespace() -> None:
    answer = "TokenSkip cuts reasoning\ntokens by 40% on GSM8K [1]."
    assert m.fact_coverage(answer, ["tokenskip", "reasoning  tokens", "40%"]) == (1.0, [])
    share, missing = m.fact_coverage(answer, ["40%", "313", "181"])
    assert share == pytest.approx(1 / 3) and missing == ["313", "181"]
    assert m.fact_coverage(answer, []) == (1.0, [])


def test_abstention_precision_and_recall() -> None:
    # (should abstain, did abstain)
    pairs = [(True, True)] * 3 + [(True, False)] + [(False, True)] + [(False, False)] * 5
    a = m.abstention(pairs)
    assert (a.tp, a.fn, a.fp, a.tn) == (3, 1, 1, 5)
    assert a.precision == pytest.approx(3 / 4)
    assert a.recall == pytest.approx(3 / 4)
    nothing = m.abstention([(False, False)])
    assert nothing.precision is None and nothing.recall is None


def test_percentile_interpolates_like_numpy() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert m.percentile(values, 50) == pytest.approx(25.0)
    assert m.percentile(values, 95) == pytest.approx(38.5)
    assert m.percentile(values, 0) == 10.0 and m.percentile(values, 100) == 40.0
    assert m.percentile([7.0], 95) == 7.0
    assert m.percentile([], 50) is None
    with pytest.raises(ValueError):
        m.percentile(values, 101)
    assert m.mean([1.0, None, 3.0]) == 2.0 and m.mean([None]) is None


def test_cited_claims_groups_uncited_lead_sentences() -> None:
    text = (
        "2 papers bear on this:\n"
        "- **A**: We build widgets. They are fast [1].\n"
        "- **B**: Gardens are sparse [2][3]. Trailing words."
    )
    assert m.cited_claims(text) == [
        ("- **A**: We build widgets. They are fast.", (1,)),
        ("- **B**: Gardens are sparse.", (2, 3)),
    ]


# --- question files and the LLM judge (no index needed) ----------------------------------


def test_load_questions_reads_facts_and_rejects_bad_files(tmp_path: Path) -> None:
    qs = load_questions(QUESTIONS)
    assert len(qs) >= 100 and len({q.qid for q in qs}) == len(qs)
    assert {q.type for q in qs} == {"lookup", "named", "multi", "author", "numeric", "unanswerable"}
    assert all(q.answer_facts for q in qs if q.answerable)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"qid": "q1", "question": "x", "type": "lookup"}\nnot json\n', "utf-8")
    with pytest.raises(QuestionFileError, match=r"bad.jsonl:2"):
        load_questions(bad)
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"qid": "q1", "question": "x", "type": "lookup"}\n' * 2, "utf-8")
    with pytest.raises(QuestionFileError, match="duplicate qid"):
        load_questions(dup)


class FakeJudge:
    """Says yes when every word of the claim occurs in the premise."""

    name = "fake-judge"

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls = 0

    def stream(self, messages: Sequence[ChatMessage]) -> Iterator[str]:
        yield self.complete(messages)

    def complete(self, messages: Sequence[ChatMessage]) -> str:
        self.calls += 1
        if self.fail:
            raise LLMUnavailable("judge endpoint refused the connection")
        user = messages[-1].content
        premise = user.split("Claim:")[0].lower()
        claim = user.split("Claim:")[1].split("Supported?")[0]
        words = [w.strip(".,").lower() for w in claim.split()]
        return "Yes." if all(w in premise for w in words if w) else "no"


def test_judge_checks_each_cited_claim_against_its_abstracts() -> None:
    a = paper("a", "Widgets", "Widgets are fast and cheap to build in practice, we show.")
    b = paper("b", "Gardens", "Sparse gardens halve memory use for nearest neighbour search.")
    hits = tuple(Hit(p, 1.0, ()) for p in (a, b))
    citations = (
        Citation(1, "a", a.title, (), None, "", a.abstract),
        Citation(2, "b", b.title, (), None, "", b.abstract),
    )
    text = "Widgets are fast [1]. Gardens halve memory use [2]. Widgets are slow [2]."
    answer = Answer("q", text, citations, False, "openai", "m", hits)
    judged = judge_answer(FakeJudge(), answer)
    assert [(j.cites, j.supported) for j in judged] == [((1,), True), ((2,), True), ((2,), False)]


# --- the quality gate and the command, over the session-scoped seed index ----------------


def test_gate_reports_each_figure_below_its_bar() -> None:
    summary = {
        "retrieval": {"hybrid": {"all": {"recall@k": 0.96}}},
        "answers": {
            "all": {"citation_precision": 0.94, "fact_coverage": 0.5},
            "abstention": {"precision": 0.9, "recall": 0.5},
        },
    }
    assert gate_failures(summary) == {"citation precision": "0.94 < 0.95"}
    summary["answers"]["all"]["citation_precision"] = 0.95  # type: ignore[index]
    assert gate_failures(summary) == {}  # abstention recall is reported, not gated


def test_judge_failure_is_recorded_and_the_metrics_stay(
    seed_settings: Settings,
    embedder,  # type: ignore[no-untyped-def]
) -> None:
    qs = [q for q in load_questions(QUESTIONS) if q.qid in ("q026", "q060", "q075")]
    fine = run_eval(PaperChat(seed_settings, embedder, FakeJudge()), qs, judge=True)
    faith = fine.summary["answers"]["faithfulness"]
    assert faith["judged"] and faith["claims"] >= 2 and faith["error"] is None
    assert fine.config["judge"] == "fake-judge"
    failing = FakeJudge(fail=True)
    broken = run_eval(PaperChat(seed_settings, embedder, failing), qs, judge=True)
    faith = broken.summary["answers"]["faithfulness"]
    assert failing.calls == 1 and "refused" in faith["error"] and faith["claims"] == 0
    assert broken.summary["answers"]["all"] == fine.summary["answers"]["all"]


runner = CliRunner()


@pytest.fixture
def seed_cli(
    seed_settings: Settings,
    embedder,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Point the CLI at the seed index and reuse the session's embedder."""
    monkeypatch.setenv("PAPERCHAT_DATA_DIR", str(seed_settings.data_dir))
    monkeypatch.setattr("rag.pipeline.make_embedder", lambda *a, **kw: embedder)


@pytest.mark.usefixtures("seed_cli")
@pytest.mark.slow
def test_eval_command_writes_report_results_and_plots(tmp_path: Path) -> None:
    from ui.cli import app

    out = tmp_path / "out"
    result = runner.invoke(app, ["eval", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "hybrid (ours)" in result.output and "BM25 alone" not in result.output
    for name in ("report.md", "results.json", *PLOTS):
        assert (out / name).is_file(), name
        if name.endswith(".png"):
            assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((out / "results.json").read_text("utf-8"))
    assert len(data["questions"]) == len(load_questions(QUESTIONS))
    assert data["config"]["k"] == 5 and set(data["summary"]["retrieval"]) == {"hybrid"}
    assert len(data["summary"]["retrieval"]["hybrid"]["recall_curve"]) == 10
    first = data["questions"][0]
    assert first["qid"] == "q001" and {"retrieval", "answer"} <= set(first)
    assert set(first["answer"]["timings"]) == {"retrieval_ms", "generation_ms", "total_ms"}
    report = (out / "report.md").read_text("utf-8")
    assert "## Retrieval" in report and "![recall_at_k.png](recall_at_k.png)" in report


@pytest.mark.usefixtures("seed_cli")
@pytest.mark.slow
def test_eval_command_compares_retrievers(tmp_path: Path) -> None:
    from ui.cli import app

    lines = QUESTIONS.read_text("utf-8").splitlines()
    small = tmp_path / "small.jsonl"
    small.write_text("\n".join(lines[:3] + lines[-3:]) + "\n", "utf-8")
    out = tmp_path / "cmp"
    args = ["eval", "--questions", str(small), "--out", str(out), "--compare", "--k", "3"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for label in ("BM25 alone", "dense alone", "hybrid (ours)", "R@3"):
        assert label in result.output
    assert "…" not in result.output  # into a pipe or file: full figures, no 80-column cut
    data = json.loads((out / "results.json").read_text("utf-8"))
    assert set(data["summary"]["retrieval"]) == {"lexical", "dense", "hybrid"}
    assert data["config"]["n_questions"] == 6 and data["config"]["k"] == 3
    assert all(set(q["retrieval"]) == {"lexical", "dense", "hybrid"} for q in data["questions"])
    report = (out / "report.md").read_text("utf-8")
    assert "recall@3" in report and "dense alone" in report
    assert all((out / name).is_file() for name in PLOTS)


def test_eval_command_rejects_bad_input(tmp_path: Path) -> None:
    from ui.cli import app

    missing = runner.invoke(app, ["eval", "--questions", str(tmp_path / "none.jsonl")])
    assert missing.exit_code == 1 and "error:" in missing.output
    bogus = runner.invoke(app, ["eval", "--backend", "bogus"])
    assert bogus.exit_code == 2 and "unknown backend" in bogus.output


def test_importing_the_eval_command_stays_light() -> None:
    code = (
        "import sys; import eval.cli; "
        "heavy = {'matplotlib', 'numpy', 'torch', 'chromadb', 'rag.pipeline'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
