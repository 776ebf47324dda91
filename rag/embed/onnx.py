"""The bundled MiniLM exported to ONNX (fp32, or int8 by dynamic quantization) for onnxruntime.

The fp32 graph is written from the safetensors weights by `rag.embed.graph` (onnx + NumPy, no
torch, ~3 s), once, at `make setup` or on first use, and cached under the
model cache (`PAPERCHAT_MODEL_CACHE`, default ~/.cache/paperchat/models) with a key over the
model files, the recipe and the library versions. Inference needs only onnxruntime and the
tokenizer. `export_with_torch` (the `[torch]` extra) is the former recipe, the tracing of
transformers' BertModel; tests hold the two graphs' vectors equal (<= 1e-5).

    python -m rag.embed.onnx     # build now (what `make setup` runs); prints the file
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from rag.embed.base import (
    MAX_MODEL_TOKENS,
    ONNX_FP32,
    ONNX_INT8,
    EmbedderError,
    WordPieces,
    in_batches,
)
from rag.embed.weights import bundled_model_dir

RECIPE = "onnx-helper-bert/opset17/int8-dynamic-per-channel-reduce-range/v2"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
QUIET_OFFLINE = {  # the weights are local: no hub requests, no progress bars
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TQDM_DISABLE": "1",
}
INSTALL_HINT = "install the torch extra: pip install 'paperchat[torch]' torch==2.13.0"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "none"


def cache_key(model_dir: Path) -> str:
    """Hash the config and tokenizer, the weights' package version and size, the recipe and
    the exporting libraries (the 90 MB of weights are not read: ~70 ms of every cold start)."""
    digest = hashlib.sha256(RECIPE.encode())
    for name in ("config.json", "tokenizer.json"):
        digest.update((model_dir / name).read_bytes())
    digest.update(str((model_dir / "model.safetensors").stat().st_size).encode())
    for package in ("onnx", "onnxruntime"):
        digest.update(f"{package}={_version(package)}".encode())
    return digest.hexdigest()[:16]


def _fuse(raw: Path, out: Path, model_dir: Path) -> None:
    """Fuse the BERT pattern (attention, LayerNorm, GELU) into onnxruntime's own ops."""
    from onnxruntime.transformers import optimizer

    config = json.loads((model_dir / "config.json").read_text())
    fused = optimizer.optimize_model(
        str(raw),
        model_type="bert",
        num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]),
    )
    fused.save_model_to_file(str(out))


def _build_fp32(model_dir: Path, out: Path) -> None:
    """Write the graph from the safetensors weights (no torch). onnxruntime's own session
    optimizer fuses it when loading (measured: as fast as the torch export fused offline)."""
    from rag.embed.graph import write_model

    write_model(model_dir, out)


def export_with_torch(model_dir: Path, out: Path) -> None:
    """Trace transformers' BertModel (eager attention) to ONNX and fuse it (needs torch)."""
    for name, value in QUIET_OFFLINE.items():
        os.environ.setdefault(name, value)
    try:
        import onnx  # noqa: F401 - the fusion and quantization tools need it
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise EmbedderError(
            f"exporting the ONNX embedder needs {exc.name}: {INSTALL_HINT}"
        ) from None

    bert = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert  # a submodule, so its weights export as initializers

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    ids = torch.ones(2, 16, dtype=torch.long)
    raw = out.with_suffix(".raw.onnx")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHiddenState(),
            (ids, ids, torch.zeros_like(ids)),
            str(raw),
            dynamo=False,  # the TorchScript tracer: the fusion below knows its BERT pattern
            input_names=list(INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "seq"} for n in (*INPUTS, "last_hidden_state")},
            opset_version=17,
        )
    _fuse(raw, out, model_dir)


def _quantize(fp32: Path, out: Path) -> None:
    """Quantize the MatMul weights to int8, per channel, 7-bit (no VNNI saturation on AVX2)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fp32),
        str(out),
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=True,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},  # fused ops lack types
    )


def _build(target: Path, make: Callable[[Path], None]) -> Path:
    """Run `make(tmp)` in the target's folder and rename the result into place (atomic)."""
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as tmp:
        built = Path(tmp) / target.name
        previous = logging.root.manager.disable
        logging.disable(logging.WARNING)  # the fusion/quantization tools log advice at WARNING
        try:
            make(built)
        finally:
            logging.disable(previous)
        os.replace(built, target)
    return target


def exported_model(model_dir: Path, cache_dir: Path, quantized: bool) -> Path:
    """Return the cached ONNX file for the model, exporting (and quantizing) it on first use."""
    key = cache_key(model_dir)
    fp32 = cache_dir / f"minilm-{key}-fp32.onnx"
    try:
        _build(fp32, lambda tmp: _build_fp32(model_dir, tmp))
        if not quantized:
            return fp32
        return _build(cache_dir / f"minilm-{key}-int8.onnx", lambda tmp: _quantize(fp32, tmp))
    except OSError as exc:
        raise EmbedderError(
            f"cannot write the ONNX export of the embedding model to {cache_dir} "
            f"({exc.strerror or exc}); set PAPERCHAT_MODEL_CACHE to a writable folder"
        ) from None


class OnnxEmbedder:
    """The bundled MiniLM under onnxruntime: same tokenizer, mean pooling and normalisation."""

    def __init__(self, spec: str, cache_dir: Path, batch_size: int = 32, threads: int = 0) -> None:
        if spec not in (ONNX_INT8, ONNX_FP32):
            raise EmbedderError(f"unknown ONNX embedder {spec!r}; use {ONNX_INT8} or {ONNX_FP32}")
        self.name = spec
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self.threads = threads  # onnxruntime intra-op threads; 0 lets it choose
        self.path = bundled_model_dir(cache_dir)
        self._pieces = WordPieces(self.path)

    @cached_property
    def model_file(self) -> Path:
        """The ONNX file this embedder runs (exported on first access)."""
        return exported_model(self.path, self.cache_dir, quantized=self.name == ONNX_INT8)

    @cached_property
    def _tokenizer(self):  # type: ignore[no-untyped-def]
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        tokenizer.enable_truncation(MAX_MODEL_TOKENS)  # as sentence-transformers' max_seq_length
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the batch's longest
        return tokenizer

    @cached_property
    def _session(self):  # type: ignore[no-untyped-def]
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.log_severity_level = 3
        return ort.InferenceSession(
            str(self.model_file), options, providers=["CPUExecutionProvider"]
        )

    def count_tokens(self, text: str) -> int:
        """Count word pieces without the [CLS]/[SEP] markers."""
        return self._pieces.count(text)

    def _encode(self, texts: list[str]) -> list[list[float]]:
        import numpy as np

        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        mean = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12, None)
        return (mean / norms).tolist()  # type: ignore[no-any-return]

    def embed_documents(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> list[list[float]]:
        """Embed passages longest first (little padding per batch), in the caller's order."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors = in_batches([texts[i] for i in order], self.batch_size, self._encode, progress)
        out: list[list[float]] = [[] for _ in texts]
        for i, vector in zip(order, vectors, strict=True):
            out[i] = vector
        return out

    def embed_query(self, text: str) -> list[float]:
        """Embed one question, normalised."""
        return self._encode([text])[0]


def main() -> None:
    """Export the fp32 model into the configured model cache and print its path."""
    from rag.config import Settings

    cache = Settings().model_cache
    print(exported_model(bundled_model_dir(cache), cache, quantized=False))


if __name__ == "__main__":
    main()
