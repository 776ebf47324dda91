"""The embedders: the bundled all-MiniLM-L6-v2 under PyTorch, an OpenAI-compatible API, and
the factory that picks one (ONNX lives in `rag.embed.onnx`, below this module)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.embed.base import (
    BUNDLED,
    MAX_MODEL_TOKENS,
    ONNX_FP32,
    ONNX_INT8,
    Embedder,
    EmbedderError,
    WordPieces,
    in_batches,
)
from rag.embed.weights import bundled_model_dir

if TYPE_CHECKING:
    from rag.config import Settings

__all__ = [
    "BUNDLED",
    "MAX_MODEL_TOKENS",
    "ONNX_FP32",
    "ONNX_INT8",
    "Embedder",
    "EmbedderError",
    "OpenAIEmbedder",
    "SentenceTransformerEmbedder",
    "make_embedder",
]


class SentenceTransformerEmbedder:
    """A sentence-transformers model run locally on the CPU, loaded lazily."""

    def __init__(self, spec: str = BUNDLED, batch_size: int = 32) -> None:
        self.name = spec
        self.batch_size = batch_size
        self.path = bundled_model_dir() if spec == BUNDLED else Path(spec)
        if not (self.path / "tokenizer.json").exists():
            raise EmbedderError(f"no sentence-transformers model at {self.path}")
        self._pieces = WordPieces(self.path)

    @cached_property
    def _model(self):  # type: ignore[no-untyped-def]
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TQDM_DISABLE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        return SentenceTransformer(str(self.path), device="cpu")

    def count_tokens(self, text: str) -> int:
        """Count word pieces without the [CLS]/[SEP] markers."""
        return self._pieces.count(text)

    def embed_documents(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> list[list[float]]:
        """Embed passages in batches, normalised for cosine similarity."""

        def encode(batch: list[str]) -> list[list[float]]:
            out = self._model.encode(batch, batch_size=self.batch_size, normalize_embeddings=True)
            return [v.tolist() for v in out]

        return in_batches(texts, self.batch_size, encode, progress)

    def embed_query(self, text: str) -> list[float]:
        """Embed one question, normalised."""
        return self._model.encode([text], normalize_embeddings=True)[0].tolist()


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible `/embeddings` endpoint, in batches."""

    def __init__(
        self,
        spec: str,
        api_key: str | None,
        base_url: str | None,
        batch_size: int = 64,
        timeout: float = 30.0,
        http_client: Any = None,
    ) -> None:
        from rag.answer.llm import OpenAIEndpoint

        self.name = spec
        self.batch_size = batch_size
        self._endpoint = OpenAIEndpoint(
            spec.removeprefix("openai:"), api_key, base_url, timeout, http_client=http_client
        )
        self._endpoint.kind = "embeddings"
        self._pieces = WordPieces(bundled_model_dir())  # chunk sizes only

    def count_tokens(self, text: str) -> int:
        """Count word pieces with the bundled tokenizer (chunk sizing only)."""
        return self._pieces.count(text)

    def _embed(self, texts: list[str]) -> list[list[float]]:
        endpoint = self._endpoint
        response = endpoint._call(
            lambda: endpoint._client.embeddings.create(model=endpoint.name, input=texts)
        )
        data = sorted(getattr(response, "data", None) or [], key=lambda d: d.index)
        if len(data) != len(texts):
            raise endpoint._error(
                f"the endpoint returned {len(data)} vectors for {len(texts)} texts"
            )
        return [_normalised(list(d.embedding)) for d in data]

    def embed_documents(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> list[list[float]]:
        """Embed passages, `batch_size` texts per request."""
        return in_batches(texts, self.batch_size, self._embed, progress)

    def embed_query(self, text: str) -> list[float]:
        """Embed one question."""
        return self._embed([text])[0]


def _normalised(vector: list[float]) -> list[float]:
    norm = sum(v * v for v in vector) ** 0.5 or 1.0
    return [v / norm for v in vector]


def make_embedder(spec: str, batch_size: int = 32, settings: Settings | None = None) -> Embedder:
    """Build the embedder a settings string names ('openai:MODEL' uses the OpenAI settings)."""
    if spec.startswith("bundled-onnx"):
        from rag.embed.base import default_model_cache
        from rag.embed.onnx import OnnxEmbedder

        cache = settings.model_cache if settings else default_model_cache()
        return OnnxEmbedder(spec, cache, batch_size)
    if spec.startswith("openai:"):
        key = settings.openai_api_key if settings else None
        return OpenAIEmbedder(
            spec,
            key.get_secret_value() if key else None,
            settings.openai_base_url if settings else None,
            timeout=settings.request_timeout if settings else 30.0,
        )
    return SentenceTransformerEmbedder(spec, batch_size)
