"""What every embedder shares: the protocol, the bundled model's location and tokenizer.

The concrete embedders (`rag.embed`: PyTorch and API; `rag.embed.onnx`: onnxruntime) depend on
this module only; the factory `rag.embed.make_embedder` sits above them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Protocol

from rag.errors import PaperchatError

BUNDLED = "bundled:all-MiniLM-L6-v2"
ONNX_FP32 = "bundled-onnx-fp32:all-MiniLM-L6-v2"
ONNX_INT8 = "bundled-onnx:all-MiniLM-L6-v2"
MAX_MODEL_TOKENS = 256
# Embedders whose vectors are equal within float tolerance share one index identity.
SAME_VECTORS = {ONNX_FP32: BUNDLED}


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


def index_identity(spec: str) -> str:
    """The embedder name an index records: fp32 ONNX and PyTorch MiniLM are one identity."""
    return SAME_VECTORS.get(spec, spec)


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


def default_model_cache() -> Path:
    """Where exported models are kept: $PAPERCHAT_MODEL_CACHE, else
    $XDG_CACHE_HOME/paperchat/models (~/.cache/...)."""
    if os.environ.get("PAPERCHAT_MODEL_CACHE"):
        return Path(os.environ["PAPERCHAT_MODEL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "paperchat" / "models"


class WordPieces:
    """A model folder's tokenizer, loaded on first use, for counting word pieces."""

    def __init__(self, model_dir: Path) -> None:
        self.path = model_dir

    @cached_property
    def _tokenizer(self):  # type: ignore[no-untyped-def]
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return tokenizer

    def count(self, text: str) -> int:
        """Count word pieces without the [CLS]/[SEP] markers."""
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)
