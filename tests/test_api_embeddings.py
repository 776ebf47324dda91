"""Embeddings through an OpenAI-compatible endpoint, tested at the HTTP layer."""

from __future__ import annotations

import json
import math
from pathlib import Path

import httpx
import pytest

from rag.answer.llm import LLMError
from rag.embed import OpenAIEmbedder
from rag.index.store import open_collection
from rag.index.writer import ingest
from tests.conftest import make_settings


def _fake_vector(text: str) -> list[float]:
    """A deterministic 8-d vector per text (unnormalised, to check normalisation)."""
    return [float((hash(text) >> i) % 7 + 1) for i in range(8)]


class EmbeddingsServer:
    """An httpx transport that answers /v1/embeddings like OpenAI and records requests."""

    def __init__(self, fail_first: int = 0) -> None:
        self.requests: list[dict[str, object]] = []
        self.fail_first = fail_first

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(
            {"path": request.url.path, "body": body, "auth": request.headers["authorization"]}
        )
        if self.fail_first:
            self.fail_first -= 1
            return httpx.Response(503, json={"error": {"message": "busy"}})
        data = [
            {"object": "embedding", "index": i, "embedding": _fake_vector(t)}
            for i, t in reversed(list(enumerate(body["input"])))  # out of order on purpose
        ]
        return httpx.Response(200, json={"object": "list", "data": data, "model": body["model"]})


def _embedder(server: EmbeddingsServer, batch_size: int = 2) -> OpenAIEmbedder:
    client = httpx.Client(transport=httpx.MockTransport(server))
    return OpenAIEmbedder(
        "openai:text-embedding-3-small",
        "sk-test-embed",
        "http://emb.test/v1",
        batch_size=batch_size,
        http_client=client,
    )


def test_batches_order_and_normalisation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rag.answer.llm._sleep", lambda _s: None)
    server = EmbeddingsServer(fail_first=1)  # a 503 is retried
    texts = ["alpha", "beta", "gamma"]
    vectors = _embedder(server).embed_documents(texts)
    assert [r["path"] for r in server.requests] == ["/v1/embeddings"] * 3
    assert [r["body"]["input"] for r in server.requests[1:]] == [["alpha", "beta"], ["gamma"]]
    assert server.requests[0]["body"]["model"] == "text-embedding-3-small"
    assert server.requests[0]["auth"] == "Bearer sk-test-embed"
    for text, vector in zip(texts, vectors, strict=True):
        raw = _fake_vector(text)
        norm = math.sqrt(sum(v * v for v in raw))
        assert vector == pytest.approx([v / norm for v in raw])


def test_bad_key_is_one_line_without_the_key() -> None:
    def reject(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"message": "bad key sk-test-embed"}})

    embedder = OpenAIEmbedder(
        "openai:m",
        "sk-test-embed",
        "http://emb.test/v1",
        http_client=httpx.Client(transport=httpx.MockTransport(reject)),
    )
    with pytest.raises(LLMError) as info:
        embedder.embed_query("x")
    assert "401" in str(info.value) and "sk-test-embed" not in str(info.value)
    assert "\n" not in str(info.value)


def test_ingest_with_api_embeddings_is_idempotent(tmp_path: Path, small_corpus: Path) -> None:
    server = EmbeddingsServer()
    settings = make_settings(tmp_path / "idx", embed_model="openai:text-embedding-3-small")
    first = ingest([small_corpus], settings, _embedder(server, batch_size=64))
    assert first.added == 3 and len(server.requests) == 1  # one batched request
    again = ingest([small_corpus], settings, _embedder(server))
    assert again.chunks_embedded == 0 and len(server.requests) == 1
    meta = open_collection(settings).metadata
    assert meta["embedder"] == "openai:text-embedding-3-small"
