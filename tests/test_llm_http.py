"""Wire-format tests for rag.answer.llm.OpenAIChat against mocked HTTP (no network)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from rag.answer import llm
from rag.answer.llm import ChatMessage, LLMError, LLMUnavailable, OpenAIChat, redact
from tests.conftest import free_port

KEY = "sk-test-SECRET1234567890"
BASE = "http://llm.test/v1"
MESSAGES = [
    ChatMessage("system", "Answer from the abstracts."),
    ChatMessage("user", "What is RAG?"),
    ChatMessage("assistant", "Retrieval-augmented generation."),
    ChatMessage("user", "Cite it."),
]

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(autouse=True)
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record retry sleeps instead of waiting."""
    calls: list[float] = []
    monkeypatch.setattr(llm, "_sleep", calls.append)
    return calls


def make_model(handler: Handler, api_key: str | None = KEY, **kwargs: Any) -> OpenAIChat:
    """Build a model whose HTTP goes to `handler`."""
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return OpenAIChat("test-model", api_key, BASE, http_client=client, **kwargs)


def chunk(
    content: str | None, finish: str | None = None, role: str | None = None
) -> dict[str, Any]:
    """Build one chat.completion.chunk payload."""
    delta: dict[str, Any] = {"content": content}
    if role:
        delta["role"] = role
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "test-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def sse(*payloads: dict[str, Any] | str) -> httpx.Response:
    """Build a text/event-stream response ending in [DONE]."""
    lines = [f"data: {p if isinstance(p, str) else json.dumps(p)}\n\n" for p in payloads]
    body = "".join(lines) + "data: [DONE]\n\n"
    return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})


def completion(content: str | None) -> httpx.Response:
    """Build a non-streaming chat.completion response."""
    return httpx.Response(
        200,
        json={
            "id": "c1",
            "object": "chat.completion",
            "created": 1,
            "model": "test-model",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": content},
                }
            ],
        },
    )


def error(status: int, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """Build an OpenAI-style JSON error response."""
    body = {"error": {"message": message, "type": "invalid_request_error", "code": None}}
    return httpx.Response(status, json=body, headers=headers)


def sequence(*responses: httpx.Response) -> tuple[Handler, list[httpx.Request]]:
    """Return a handler answering with `responses` in order, and the requests it saw."""
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0)

    return handler, seen


def assert_clean(exc: BaseException, model: OpenAIChat) -> None:
    """The message is one line and leaks no key, in the error or the model's repr."""
    for text in (str(exc), repr(exc), repr(model)):
        assert KEY not in text and "SECRET" not in text
    assert "\n" not in str(exc) and "Traceback" not in str(exc)
    assert exc.__cause__ is None


# --- request format ---------------------------------------------------------------------------


def test_stream_request_body_and_headers() -> None:
    handler, seen = sequence(sse(chunk("ok", "stop")))
    assert list(make_model(handler).stream(MESSAGES)) == ["ok"]
    (request,) = seen
    assert request.method == "POST"
    assert request.url.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    body = json.loads(request.content)
    assert body["model"] == "test-model"
    assert body["messages"] == [{"role": m.role, "content": m.content} for m in MESSAGES]
    assert body["temperature"] == 0.1
    assert body["max_tokens"] == 500
    assert body["stream"] is True


def test_complete_request_is_not_streaming_and_uses_settings() -> None:
    handler, seen = sequence(completion("The answer."))
    model = make_model(handler, temperature=0.7, max_tokens=42)
    assert model.complete(MESSAGES) == "The answer."
    body = json.loads(seen[0].content)
    assert body["stream"] is False
    assert (body["temperature"], body["max_tokens"]) == (0.7, 42)


def test_local_server_without_key_sends_placeholder_bearer() -> None:
    handler, seen = sequence(sse(chunk("hi", "stop")))
    model = make_model(handler, api_key=None)
    assert "".join(model.stream(MESSAGES)) == "hi"
    auth = seen[0].headers["authorization"]
    assert auth.startswith("Bearer ") and len(auth) > len("Bearer ")


# --- responses ----------------------------------------------------------------------------------


def test_stream_assembles_deltas_in_order_skipping_empty() -> None:
    handler, _ = sequence(
        sse(
            chunk("", role="assistant"),
            chunk("Retrieval"),
            chunk(None),
            chunk("-augmented"),
            {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m",
                "choices": [{"index": 0, "delta": {}, "finish_reason": None}],
            },
            chunk(" generation."),
            chunk(None, "stop"),
            {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m",
                "choices": [],
                "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
            },
        )
    )
    deltas = list(make_model(handler).stream(MESSAGES))
    assert deltas == ["Retrieval", "-augmented", " generation."]


def test_complete_returns_text() -> None:
    handler, _ = sequence(completion("Full answer."))
    assert make_model(handler).complete(MESSAGES) == "Full answer."


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, json={"id": "c1", "object": "chat.completion", "choices": []}),
        httpx.Response(200, json={"unexpected": True}),
        httpx.Response(200, text="{not json", headers={"content-type": "application/json"}),
        httpx.Response(200, text="<html>proxy page</html>", headers={"content-type": "text/html"}),
    ],
    ids=["empty-choices", "no-choices", "invalid-json", "html"],
)
def test_complete_malformed_200_is_llm_error(response: httpx.Response) -> None:
    handler, _ = sequence(response)
    model = make_model(handler)
    with pytest.raises(LLMError) as info:
        model.complete(MESSAGES)
    assert not isinstance(info.value, LLMUnavailable)
    assert_clean(info.value, model)


@pytest.mark.parametrize(
    "response",
    [
        sse("{not json"),
        sse({"id": "c1", "object": "chat.completion.chunk", "choices": []}),
        sse({"error": {"message": "backend crashed"}}),
    ],
    ids=["invalid-json", "no-choices", "error-event"],
)
def test_stream_malformed_200_is_llm_error(response: httpx.Response) -> None:
    handler, _ = sequence(response)
    model = make_model(handler)
    with pytest.raises(LLMError) as info:
        list(model.stream(MESSAGES))
    assert_clean(info.value, model)


# --- HTTP errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_auth_rejected_is_one_line_without_key(status: int) -> None:
    handler, seen = sequence(error(status, f"Incorrect API key provided: {KEY}."))
    model = make_model(handler)
    with pytest.raises(LLMError) as info:
        model.complete(MESSAGES)
    message = str(info.value)
    assert f"rejected the API key ({status})" in message and "OPENAI_API_KEY" in message
    assert "sk-…redacted" in message
    assert_clean(info.value, model)
    assert len(seen) == 1  # not retried


def test_stream_raises_eagerly_before_iteration() -> None:
    handler, _ = sequence(error(401, "bad key"))
    with pytest.raises(LLMError, match="401"):
        make_model(handler).stream(MESSAGES)


def test_404_names_the_model() -> None:
    handler, seen = sequence(error(404, "The model `test-model` does not exist"))
    model = make_model(handler)
    with pytest.raises(LLMError) as info:
        list(model.stream(MESSAGES))
    message = str(info.value)
    assert "'test-model'" in message and "404" in message and "base URL" in message
    assert_clean(info.value, model)
    assert len(seen) == 1


def test_404_html_page_is_not_dumped() -> None:
    page = "<html><body>" + "Not Found " * 100 + "</body></html>"
    handler, _ = sequence(httpx.Response(404, text=page, headers={"content-type": "text/html"}))
    with pytest.raises(LLMError) as info:
        make_model(handler).complete(MESSAGES)
    assert "<html>" not in str(info.value) and len(str(info.value)) < 250


def test_400_includes_truncated_server_message() -> None:
    long = "max_tokens is too large: " + "x" * 1000 + f" {KEY}"
    handler, seen = sequence(error(400, long))
    model = make_model(handler)
    with pytest.raises(LLMError) as info:
        model.complete(MESSAGES)
    message = str(info.value)
    assert "(400)" in message and "max_tokens is too large" in message
    assert len(message) < 300 and message.endswith("…")
    assert_clean(info.value, model)
    assert len(seen) == 1


def test_400_plain_string_error_body() -> None:
    """Ollama-style {"error": "..."} bodies still show the server's message."""
    response = httpx.Response(400, json={"error": "model 'test-model' not found, try pulling it"})
    handler, _ = sequence(response)
    with pytest.raises(LLMError, match="try pulling it"):
        make_model(handler).complete(MESSAGES)


def test_429_then_200_retries_honouring_retry_after(sleeps: list[float]) -> None:
    handler, seen = sequence(
        error(429, "slow down", headers={"retry-after": "3"}),
        sse(chunk("after "), chunk("retry", "stop")),
    )
    assert "".join(make_model(handler).stream(MESSAGES)) == "after retry"
    assert len(seen) == 2
    assert sleeps == [3.0]


def test_retry_after_is_capped_and_non_numeric_falls_back(sleeps: list[float]) -> None:
    handler, _ = sequence(
        error(429, "slow down", headers={"retry-after": "120"}),
        error(503, "busy", headers={"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}),
        completion("done"),
    )
    assert make_model(handler).complete(MESSAGES) == "done"
    assert sleeps == [10.0, 1.0]


def test_500_three_times_gives_up_with_attempt_count(sleeps: list[float]) -> None:
    handler, seen = sequence(*(error(500, "internal error") for _ in range(3)))
    model = make_model(handler)
    with pytest.raises(LLMError) as info:
        list(model.stream(MESSAGES))
    message = str(info.value)
    assert "gave up after 3 attempts" in message and "500" in message
    assert not isinstance(info.value, LLMUnavailable)
    assert len(seen) == 3
    assert sleeps == [0.5, 1.0]
    assert_clean(info.value, model)


def test_429_with_no_retries_allowed(sleeps: list[float]) -> None:
    handler, seen = sequence(error(429, "quota"))
    with pytest.raises(LLMError, match="gave up after 1 attempt:.*429"):
        make_model(handler, max_retries=0).complete(MESSAGES)
    assert len(seen) == 1 and sleeps == []


# --- unreachable endpoints ----------------------------------------------------------------------


def test_connection_refused_is_unavailable_and_quick() -> None:
    port = free_port()
    model = OpenAIChat("test-model", KEY, f"http://127.0.0.1:{port}/v1", timeout=5.0)
    start = time.monotonic()
    with pytest.raises(LLMUnavailable) as info:
        model.stream(MESSAGES)
    assert time.monotonic() - start < 2.0
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "/v1" not in str(info.value)  # host only
    assert_clean(info.value, model)


def raising(exc_type: type[httpx.TransportError], text: str) -> Handler:
    """Return a handler that raises a transport error."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type(text, request=request)

    return handler


@pytest.mark.parametrize(
    ("exc_type", "text"),
    [
        (httpx.ReadTimeout, "timed out"),
        (httpx.ConnectTimeout, "timed out"),
        (httpx.ConnectError, "[Errno -2] Name or service not known"),
    ],
)
def test_timeout_and_dns_failure_are_unavailable(
    exc_type: type[httpx.TransportError], text: str, sleeps: list[float]
) -> None:
    model = make_model(raising(exc_type, text), timeout=7.0)
    with pytest.raises(LLMUnavailable) as info:
        model.complete(MESSAGES)
    assert "http://llm.test" in str(info.value)
    assert sleeps == []
    assert_clean(info.value, model)


class _StallingStream(httpx.SyncByteStream):
    """Send one SSE chunk, then time out."""

    def __iter__(self) -> Iterator[bytes]:
        yield f"data: {json.dumps(chunk('partial'))}\n\n".encode()
        raise httpx.ReadTimeout("timed out")


def test_timeout_mid_stream_is_unavailable_after_partial_output() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=_StallingStream()
        )

    model = make_model(handler)
    deltas = model.stream(MESSAGES)
    assert next(deltas) == "partial"
    with pytest.raises(LLMUnavailable, match="mid-answer"):
        next(deltas)


# --- redaction ----------------------------------------------------------------------------------


def test_repr_hides_key() -> None:
    model = OpenAIChat("test-model", KEY, "https://api.example.com/v1")
    assert KEY not in repr(model) and "test-model" in repr(model)
    assert model.name == "test-model"


def test_redact() -> None:
    assert redact(f"key={KEY}!", KEY) == "key=sk-…redacted!"
    assert redact("other sk-abcdefgh_12-X here", None) == "other sk-…redacted here"
    assert redact("custom-token-123 leaked", "custom-token-123") == "sk-…redacted leaked"
    assert redact("sk-short stays", None) == "sk-short stays"
