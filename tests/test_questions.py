"""Odd questions and options: control characters, right-to-left text, emoji, punctuation only,
a filter that matches no paper, an out-of-range --k. Each is answered or refused in one line."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rag.config import Settings
from rag.pipeline import QuestionError, validate_question
from rag.retrieval.retrieve import Filters, NoPaperMatches
from ui.cli import app

runner = CliRunner()


@pytest.fixture()
def seeded(seed_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("PAPERCHAT_DATA_DIR", str(seed_settings.data_dir))
    return seed_settings


@pytest.mark.parametrize(
    "question, cleaned",
    [
        ("What is\x00 chain\x1b-of-thought?\x07", "What is chain -of-thought?"),
        ("ما هو التعلم المعزز؟", "ما هو التعلم المعزز؟"),  # right to left, kept as typed
        ("\u202eevil\u202c reward models", "evil reward models"),  # bidi override removed
        ("🤖 which papers train agents?", "🤖 which papers train agents?"),
        ("👩\u200d🔬 science agents", "👩\u200d🔬 science agents"),  # the joiner is kept
        ("e\u0301tude", "étude"),  # NFC
    ],
)
def test_questions_are_cleaned_not_refused(question: str, cleaned: str) -> None:
    assert validate_question(question) == cleaned


@pytest.mark.parametrize("question", ["", "   \x00\x07 ", "?!?!...", "🤖🚀", "\u200b\u2060"])
def test_questions_without_words_are_one_clear_error(question: str) -> None:
    with pytest.raises(QuestionError) as info:
        validate_question(question)
    assert "\n" not in str(info.value)


@given(st.text(max_size=300))
@settings(max_examples=200, deadline=None)
def test_validate_question_only_raises_question_error(text: str) -> None:
    try:
        cleaned = validate_question(text)
    except QuestionError:
        return
    assert cleaned and cleaned == cleaned.strip() and "\x00" not in cleaned


def test_a_filter_no_paper_passes_says_so(seed_session) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NoPaperMatches, match="no paper matches the filter"):
        seed_session.search("reward models", 5, Filters(author="Nobody Zzyzx"))
    with pytest.raises(NoPaperMatches, match="years 1900-1901"):
        seed_session.search("reward models", 5, Filters(year_min=1900, year_max=1901))


@pytest.mark.parametrize("command", ["ask", "search"])
def test_cli_filter_matching_nothing_is_one_line(seeded: Settings, command: str) -> None:
    result = runner.invoke(app, [command, "reward models", "--author", "Nobody Zzyzx"])
    assert result.exit_code == 1
    assert "no paper matches the filter (author 'Nobody Zzyzx')" in result.output
    assert "abstain" not in result.output.lower() and "Traceback" not in result.output


@pytest.mark.parametrize("k", ["0", "-3", "51", "100000"])
@pytest.mark.parametrize("command", ["ask", "search"])
def test_out_of_range_k_names_the_range(command: str, k: str) -> None:
    result = runner.invoke(app, [command, "reward models", "--k", k])
    assert result.exit_code == 2
    assert f"--k must be between 1 and 50 (got {k})" in result.output
    assert len([ln for ln in result.output.splitlines() if ln.strip()]) == 1


def test_chat_refuses_out_of_range_k() -> None:
    result = runner.invoke(app, ["chat", "--k", "0"], input="/quit\n")
    assert result.exit_code == 2 and "between 1 and 50" in result.output


@pytest.mark.parametrize("question", ["?!?!", "🤖🚀"])
def test_cli_question_without_words(seeded: Settings, question: str) -> None:
    result = runner.invoke(app, ["ask", question])
    assert result.exit_code == 1 and "the question has no words" in result.output


@pytest.mark.parametrize(
    "question", ["ما هي نماذج المكافأة؟ reward models", "🤖 reward models?", "reward\x07 models"]
)
def test_cli_answers_rtl_emoji_and_control_characters(seeded: Settings, question: str) -> None:
    result = runner.invoke(app, ["ask", question, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["hits"]


def test_chat_goes_on_after_a_question_without_words(seeded: Settings) -> None:
    result = runner.invoke(app, ["chat"], input="?!?\nreward models\n/quit\n")
    assert result.exit_code == 0
    assert "the question has no words" in result.output
