"""The OpenAI-compatible API over the seed index: the openai SDK, llama-index, curl, bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from rag.config import Settings
from tests.conftest import free_port
from ui.api import build_api, install_error_handlers, key_for, parse_request

QUESTION = "How does STeCa calibrate trajectories?"


class _Server:
    """uvicorn serving an app on a free loopback port, in a thread."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the API server did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}/v1"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def api_url(seed_settings: Settings, seed_session) -> Iterator[str]:  # type: ignore[no-untyped-def]
    app = build_api(seed_settings, None, seed_session)
    install_error_handlers(app)
    with _Server(app) as url:
        yield url


def _client(url: str, key: str = "unused"):  # type: ignore[no-untyped-def]
    from openai import OpenAI

    return OpenAI(base_url=url, api_key=key, max_retries=0, timeout=60)


def test_the_openai_client_gets_a_cited_answer(api_url: str) -> None:
    reply = _client(api_url).chat.completions.create(
        model="paperchat", messages=[{"role": "user", "content": QUESTION}]
    )
    content = reply.choices[0].message.content or ""
    assert "[1]" in content and "\n\nReferences\n[1] " in content and "STeCa" in content
    extra = reply.model_extra["paperchat"]  # type: ignore[index]
    assert extra["citations"][0]["n"] == 1 and "STeCa" in extra["citations"][0]["title"]
    assert extra["claims"] and all("quote" in c for c in extra["claims"])
    assert reply.choices[0].finish_reason == "stop" and reply.usage is not None


def test_the_openai_client_streams_the_same_answer(api_url: str) -> None:
    client = _client(api_url)
    messages = [{"role": "user", "content": QUESTION}]
    whole = client.chat.completions.create(model="paperchat", messages=messages)  # type: ignore[arg-type]
    chunks = list(client.chat.completions.create(model="paperchat", messages=messages, stream=True))  # type: ignore[arg-type]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(chunks) >= 3
    assert text == whole.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["paperchat"]["citations"]  # type: ignore[index]


def test_history_comes_from_the_messages() -> None:
    parsed = parse_request(
        json.dumps(
            {
                "model": "paperchat",
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "What is STeCa?"},
                    {"role": "assistant", "content": "A calibration [1].\n\nReferences\n[1] X"},
                    {"role": "user", "content": [{"type": "text", "text": "How is it trained?"}]},
                ],
            }
        ).encode()
    )
    assert parsed["question"] == "How is it trained?"
    assert [(t.question, t.answer) for t in parsed["history"]] == [
        ("What is STeCa?", "A calibration [1].")
    ]


def test_llama_index_openai_like_chats_and_streams(api_url: str) -> None:
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai_like import OpenAILike

    llm = OpenAILike(
        model="paperchat",
        api_base=api_url,
        api_key="unused",
        is_chat_model=True,
        context_window=8192,
        max_retries=0,
    )
    messages = [ChatMessage(role="user", content=QUESTION)]
    reply = llm.chat(messages)
    assert "[1]" in (reply.message.content or "") and "References" in (reply.message.content or "")
    streamed = list(llm.stream_chat(messages))
    assert streamed[-1].message.content == reply.message.content


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl(api_url: str) -> None:
    def curl(*args: str) -> tuple[int, str]:
        run = subprocess.run(
            ["curl", "-sS", "-w", "\n%{http_code}", *args], capture_output=True, text=True
        )
        body, _, status = run.stdout.rpartition("\n")
        return int(status), body

    status, body = curl(f"{api_url}/models")
    assert status == 200 and json.loads(body)["data"][0]["id"] == "paperchat"
    payload = json.dumps(
        {"model": "paperchat", "messages": [{"role": "user", "content": QUESTION}]}
    )
    status, body = curl(
        "-H", "Content-Type: application/json", "-d", payload, f"{api_url}/chat/completions"
    )
    assert status == 200 and "[1]" in json.loads(body)["choices"][0]["message"]["content"]
    streamed = payload.replace('"model"', '"stream": true, "model"')
    status, body = curl("-N", "-d", streamed, f"{api_url}/chat/completions")
    events = [line for line in body.splitlines() if line.startswith("data: ")]
    assert status == 200 and events[-1] == "data: [DONE]"
    assert json.loads(events[-2][6:])["choices"][0]["finish_reason"] == "stop"


def _body(messages: object = None, **fields: object) -> bytes:
    data = {"model": "paperchat", **fields}
    if messages is not None:
        data["messages"] = messages
    return json.dumps(data).encode()


def _user(text: str, role: str = "user") -> list[dict[str, str]]:
    return [{"role": role, "content": text}]


BAD = [
    (b"{not json", 400, "invalid_json"),
    (b'["a list"]', 400, "invalid_json"),
    (_body(), 400, None),
    (_body([]), 400, None),
    (json.dumps({"messages": _user("hi")}).encode(), 400, None),
    (_body(_user("hi"), model="nope"), 404, "model_not_found"),
    (_body(_user("hi", "assistant")), 400, None),
    (_body(_user("   ")), 400, None),
    (_body(_user("hi", "wizard")), 400, None),
    (_body(_user("hi"), stream="yes"), 400, None),
    (_body(_user("why " * 600)), 400, "context_length_exceeded"),
    (_body(_user("x" * (1 << 20))), 413, "request_too_large"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD)
def test_bad_requests_get_openai_error_bodies(
    api_url: str, body: bytes, status: int, code: str | None
) -> None:
    import httpx

    response = httpx.post(f"{api_url}/chat/completions", content=body, timeout=30)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["message"] and error["type"] == "invalid_request_error"
    assert error["code"] == code
    assert "Traceback" not in response.text


def test_the_openai_client_raises_its_own_errors(api_url: str) -> None:
    import openai

    client = _client(api_url)
    with pytest.raises(openai.NotFoundError, match="model_not_found"):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="paperchat", messages=[])


def test_unknown_routes_and_methods_are_openai_errors(api_url: str) -> None:
    import httpx

    missing = httpx.get(f"{api_url}/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = httpx.get(f"{api_url}/chat/completions")
    assert wrong.status_code == 405 and "error" in wrong.json()


def test_a_key_is_required_when_set(seed_settings: Settings, seed_session) -> None:  # type: ignore[no-untyped-def]
    import openai

    app = build_api(seed_settings, "s3cret", seed_session)
    with _Server(app) as url:
        with pytest.raises(openai.AuthenticationError):
            _client(url, "wrong").models.list()
        assert [m.id for m in _client(url, "s3cret").models.list()] == ["paperchat"]


def test_binding_beyond_loopback_needs_a_key(seed_settings: Settings) -> None:
    import typer

    with pytest.raises(typer.Exit):
        key_for(seed_settings, "0.0.0.0")
    assert key_for(seed_settings, "127.0.0.1") is None
    from pydantic import SecretStr

    keyed = seed_settings.model_copy(update={"api_key": SecretStr("k")})
    assert key_for(keyed, "0.0.0.0") == "k"


@pytest.mark.slow
def test_serve_mounts_the_api_beside_the_ui(seed_settings: Settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import sys

    import httpx

    from tests.conftest import ROOT

    port = free_port()
    command = [sys.executable, "-m", "ui.cli", "--data-dir", str(seed_settings.data_dir), "serve"]
    server = subprocess.Popen(
        [*command, "--api", "--port", str(port)],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("PAPERCHAT_")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                models = httpx.get(f"{base}/v1/models", timeout=5)
                break
            except httpx.HTTPError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "serve did not come up"
                time.sleep(0.5)
        assert models.json()["data"][0]["id"] == "paperchat"
        page = httpx.get(f"{base}/", timeout=30)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        reply = _client(f"{base}/v1").chat.completions.create(
            model="paperchat", messages=[{"role": "user", "content": QUESTION}]
        )
        assert "[1]" in (reply.choices[0].message.content or "")
    finally:
        server.terminate()
        server.wait(30)
