"""The served UI under concurrent use, over loopback only, through Gradio's own client.

The app is started in-process on 127.0.0.1 with the production queue settings
(`default_concurrency_limit=4`) over the seed index, then questioned by many `gradio_client`
sessions at once. PAPERCHAT_LOAD_SECONDS (default 10) sets the soak duration.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.slow  # a served UI under 20 concurrent sessions

QUESTIONS = [
    "Which papers shorten chain-of-thought reasoning, and how?",
    "What has Chak Tou Leong worked on?",
    "How can LLM agents learn from step-level trajectory calibration?",
    "Which papers study retrieval-augmented generation?",
    "What are process reward models used for?",
    "How do papers evaluate long-context language models?",
    "Does the collection cover protein folding?",
    "Which methods reduce hallucination?",
]
API = "/ask"
# Values for the /ask inputs after the question, by parameter name; only those the endpoint
# declares are sent (the UI's controls may change). The extractive backend needs no LLM.
CONTROLS: dict[str, Any] = {
    "chat": [],
    "author": "",
    "source": "All sources",
    "year_min": None,
    "year_max": None,
    "k": 5,
    "backend": "extractive",
}


@pytest.fixture(scope="module")
def served(seed_settings, seed_session) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The chat UI served on a free loopback port, as `paperchat serve` configures it."""
    from ui.app import build_app

    port = free_port()
    app = build_app(seed_settings, session=seed_session)
    app.queue(default_concurrency_limit=4)
    app.launch(
        prevent_thread_lock=True,
        server_name="127.0.0.1",
        server_port=port,
        quiet=True,
        footer_links=[],
    )
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


def _client(url: str) -> Any:
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False)


def _inputs(client: Any, question: str) -> dict[str, Any]:
    """Keyword arguments for /ask: the question plus every control the endpoint declares."""
    params = client.view_api(return_format="dict", print_info=False)["named_endpoints"][API][
        "parameters"
    ]
    names = [p["parameter_name"] for p in params]
    unknown = [n for n in names[1:] if n not in CONTROLS]
    assert not unknown, f"/ask has inputs this test does not know: {unknown}"
    return {names[0]: question, **{n: CONTROLS[n] for n in names[1:]}}


def _last_reply(result: Any) -> str:
    """The assistant's last message from the /ask outputs (chat history first)."""
    chat = result[0] if isinstance(result, (list, tuple)) else result
    message = chat[-1]
    content = message["content"] if isinstance(message, dict) else message
    if isinstance(content, list):  # Gradio 5/6 message parts
        content = " ".join(
            str(p.get("text", p)) if isinstance(p, dict) else str(p) for p in content
        )
    return str(content)


def _ask(client: Any, question: str) -> tuple[float, str]:
    start = time.perf_counter()
    result = client.predict(**_inputs(client, question), api_name=API)
    return time.perf_counter() - start, _last_reply(result)


def _ok(reply: str) -> bool:
    return 'class="answer' in reply and "answer error" not in reply


def test_ask_endpoint_is_named_and_loopback_only(served: str) -> None:
    assert served.startswith("http://127.0.0.1:")
    api = _client(served).view_api(return_format="dict", print_info=False)
    assert API in api["named_endpoints"]
    assert api["named_endpoints"][API]["parameters"][0]["parameter_name"] == "message"


def test_ten_simultaneous_questions_all_get_answers(served: str) -> None:
    clients = [_client(served) for _ in range(10)]
    jobs = [
        c.submit(**_inputs(c, QUESTIONS[i % len(QUESTIONS)]), api_name=API)
        for i, c in enumerate(clients)
    ]
    replies = [_last_reply(job.result(timeout=120)) for job in jobs]
    assert all(_ok(r) for r in replies), [r[:200] for r in replies if not _ok(r)]


def test_twenty_sessions_for_a_fixed_time_without_errors(served: str) -> None:
    duration = float(os.environ.get("PAPERCHAT_LOAD_SECONDS", "10"))
    sessions = 20
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def session(i: int) -> None:
        try:
            client = _client(served)
        except Exception as exc:  # a failed connection is an error, not a crash of the test
            with lock:
                errors.append(f"session {i} connect: {type(exc).__name__}: {exc}")
            return
        n = i
        while time.monotonic() < deadline:
            question = QUESTIONS[n % len(QUESTIONS)]
            n += 1
            try:
                seconds, reply = _ask(client, question)
            except Exception as exc:
                with lock:
                    errors.append(f"session {i}: {type(exc).__name__}: {exc}")
                continue
            with lock:
                if _ok(reply):
                    latencies.append(seconds)
                else:
                    errors.append(f"session {i}: {reply[:200]}")

    threads = [threading.Thread(target=session, args=(i,)) for i in range(sessions)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration + 180)
    elapsed = time.monotonic() - start
    assert not any(t.is_alive() for t in threads), "a session never finished"
    assert not errors, errors[:5]
    assert len(latencies) >= sessions  # every session got at least one answer
    ordered = sorted(latencies)
    p50 = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    print(
        f"\nload: {sessions} sessions, {len(latencies)} answers in {elapsed:.1f} s "
        f"({len(latencies) / elapsed:.1f}/s), p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms, errors {len(errors)}"
    )
