"""The `paperchat` commands, run through typer's runner against real indexes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.config import Settings
from ui.cli import app

runner = CliRunner()


@pytest.fixture()
def seeded(seed_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("PAPERCHAT_DATA_DIR", str(seed_settings.data_dir))
    return seed_settings


def test_help_explains_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("ingest", "ask", "search", "papers", "chat", "stats"):
        assert command in result.output


def test_help_papers_and_stats_do_not_import_torch() -> None:
    code = "import sys; from ui.cli import app; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_ingest_reports_per_file_and_exit_code(small_corpus: Path, tmp_path: Path) -> None:
    (small_corpus / "bad.jsonl").write_text('{"title": "x", "abstract": "too short"}\n', "utf-8")
    result = runner.invoke(app, ["ingest", str(small_corpus)])
    assert result.exit_code == 3, result.output  # something was skipped
    assert "papers.jsonl: 3 papers (jsonl)" in result.output
    assert "skipped line 1: abstract too short" in result.output
    again = runner.invoke(app, ["ingest", str(small_corpus), "--json"])
    assert json.loads(again.stdout)["chunks_embedded"] == 0


def test_ask_json_is_the_answer_record(seeded: Settings) -> None:
    result = runner.invoke(app, ["ask", "How does STeCa calibrate trajectories?", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["backend"] == "extractive" and data["abstained"] is False
    assert data["citations"][0]["title"].startswith("STeCa")
    assert set(data["timings"]) == {"retrieval_ms", "generation_ms", "total_ms"}


def test_ask_streams_text_and_references(seeded: Settings) -> None:
    result = runner.invoke(app, ["ask", "What has Chak Tou Leong worked on?", "--k", "3"])
    assert result.exit_code == 0
    assert "[1]" in result.output and "Chak Tou Leong" in result.output


def test_search_papers_stats(seeded: Settings) -> None:
    search = json.loads(
        runner.invoke(app, ["search", "token skipping CoT compression", "--json"]).stdout
    )
    assert search["hits"][0]["title"].startswith("TokenSkip")
    papers = json.loads(runner.invoke(app, ["papers", "--json"]).stdout)
    assert len(papers) == 157 and all(p["abstract"] for p in papers)
    stats = json.loads(runner.invoke(app, ["stats", "--json"]).stdout)
    assert stats["papers"] == 157 and stats["embedder"] == "bundled:all-MiniLM-L6-v2"


def test_chat_follow_up(seeded: Settings) -> None:
    result = runner.invoke(
        app,
        ["chat"],
        input="How does STeCa calibrate trajectories?\nwhat are its limitations?\n/quit\n",
    )
    assert result.exit_code == 0
    assert result.output.count("STeCa") >= 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", "   "], "error: the question is empty"),
        (["ask", "hello"], "run `paperchat ingest` first"),
        (["ingest", "/no/such/dir"], "no such file or folder"),
        (["ask", "x", "--backend", "magic"], "unknown backend"),
    ],
)
def test_user_mistakes_give_one_line(
    args: list[str], message: str, request: pytest.FixtureRequest
) -> None:
    if args[:2] == ["ask", "   "]:
        request.getfixturevalue("seeded")
    result = runner.invoke(app, args)
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output


def test_year_filters(seeded: Settings) -> None:
    result = runner.invoke(
        app, ["search", "reward models", "--since", "2024", "--until", "2024", "--json"]
    )
    hits = json.loads(result.stdout)["hits"]
    assert hits and all(h["year"] == 2024 for h in hits)
