"""The ONNX embedders against the real fp32 model: vectors, export cache, store identity, search."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.corpus.loaders import load_paths
from rag.embed import BUNDLED, EmbedderError, make_embedder
from rag.embed.onnx import ONNX_FP32, ONNX_INT8, OnnxEmbedder
from rag.index.store import StoreError, open_collection
from rag.index.writer import ingest
from rag.pipeline import PaperChat
from tests.conftest import ROOT, SEEDS, make_settings

pytestmark = pytest.mark.slow  # the session's export takes ~10-15 s


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One export cache for the whole session (the export takes ~15 s)."""
    cache = tmp_path_factory.mktemp("onnx-models")
    OnnxEmbedder(ONNX_INT8, cache).embed_query("warm up")  # exports fp32, then int8
    return cache


@pytest.fixture(scope="session")
def seed_texts() -> list[str]:
    """A handful of real seed abstracts, title first as the chunker embeds them."""
    papers = load_paths([SEEDS]).papers[:12]
    return [f"{p.title}. {p.abstract}" for p in papers]


def _cosines(a: list[list[float]], b: list[list[float]]) -> np.ndarray:
    return (np.asarray(a) * np.asarray(b)).sum(axis=1)


def test_fp32_onnx_matches_the_pytorch_model(embedder, onnx_cache: Path, seed_texts) -> None:  # type: ignore[no-untyped-def]
    onnx = OnnxEmbedder(ONNX_FP32, onnx_cache)
    cos = _cosines(onnx.embed_documents(seed_texts), embedder.embed_documents(seed_texts))
    assert cos.min() > 0.9999
    query = "Which papers shorten chain-of-thought reasoning?"
    assert _cosines([onnx.embed_query(query)], [embedder.embed_query(query)])[0] > 0.9999


def test_int8_onnx_stays_close(embedder, onnx_cache: Path, seed_texts) -> None:  # type: ignore[no-untyped-def]
    onnx = OnnxEmbedder(ONNX_INT8, onnx_cache)
    vectors = onnx.embed_documents(seed_texts)
    assert all(abs(np.linalg.norm(v) - 1) < 1e-5 for v in vectors)
    cos = _cosines(vectors, embedder.embed_documents(seed_texts))
    assert cos.min() >= 0.98 and cos.mean() >= 0.99  # measured here: min 0.986, mean 0.993
    assert onnx.count_tokens("mean pooling") == embedder.count_tokens("mean pooling")


def test_order_is_kept_although_batches_run_longest_first(onnx_cache: Path, seed_texts) -> None:  # type: ignore[no-untyped-def]
    # fp32: padding is masked out exactly. (int8 is not batch-invariant: dynamic quantization
    # scales activations per batch tensor, so a text's vector moves slightly with its batch.)
    onnx = OnnxEmbedder(ONNX_FP32, onnx_cache, batch_size=3)
    texts = ["short", *seed_texts[:4], "also short"]
    together = onnx.embed_documents(texts)
    alone = [onnx.embed_query(t) for t in texts]
    assert _cosines(together, alone).min() > 0.9999


def test_export_is_cached_and_reused(onnx_cache: Path) -> None:
    first = OnnxEmbedder(ONNX_INT8, onnx_cache)
    stamp = first.model_file.stat().st_mtime_ns
    second = OnnxEmbedder(ONNX_INT8, onnx_cache)
    assert second.model_file == first.model_file and second.model_file.stat().st_mtime_ns == stamp
    names = sorted(p.name for p in onnx_cache.iterdir())
    assert len(names) == 2 and names[0].endswith("-fp32.onnx") and names[1].endswith("-int8.onnx")
    assert not any(n.startswith(".export-") for n in os.listdir(onnx_cache))


def test_fp32_onnx_is_the_default_and_exports_into_the_model_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Settings.model_fields["embed_model"].default == ONNX_FP32
    emb = make_embedder(ONNX_INT8, settings=make_settings(tmp_path / "data", model_cache=tmp_path))
    assert isinstance(emb, OnnxEmbedder) and emb.cache_dir == tmp_path
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    default = make_embedder(ONNX_FP32, settings=make_settings(tmp_path / "data"))
    assert default.cache_dir == tmp_path / "xdg" / "paperchat" / "models"  # type: ignore[attr-defined]


def test_pytorch_and_fp32_onnx_share_an_index_int8_does_not(seed_settings: Settings) -> None:
    for same in (BUNDLED, ONNX_FP32):
        open_collection(seed_settings.model_copy(update={"embed_model": same}))
    with pytest.raises(StoreError, match="ingest --rebuild"):
        open_collection(seed_settings.model_copy(update={"embed_model": ONNX_INT8}))


def test_a_cold_ask_never_imports_torch(seed_settings: Settings, onnx_cache: Path) -> None:
    """The default embedder on an index built with PyTorch: cited answer, torch never loaded."""
    probe = (
        "import sys\n"
        "from ui.cli import main\n"
        "sys.argv = ['paperchat', 'ask', 'How does STeCa calibrate trajectories?']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "heavy = ('torch', 'transformers', 'sentence_transformers', 'llama_index.core')\n"
        "print('loaded:', [m for m in heavy if m in sys.modules])\n"
    )
    env = os.environ | {
        "PAPERCHAT_DATA_DIR": str(seed_settings.data_dir),
        "PAPERCHAT_MODEL_CACHE": str(onnx_cache),
    }
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert run.returncode == 0, run.stderr
    assert "[1] STeCa" in run.stdout
    assert run.stdout.strip().splitlines()[-1] == "loaded: []"


def test_ingest_search_no_mixing(onnx_cache: Path, small_corpus: Path, tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "idx", embed_model=ONNX_INT8)
    emb = OnnxEmbedder(ONNX_INT8, onnx_cache)
    report = ingest([small_corpus], settings, emb)
    assert report.chunks_embedded >= 3
    hits = PaperChat(settings, embedder=emb).search("nearest neighbour search memory").hits
    assert hits[0].paper.title == "Sparse Gardens"
    for other in ("bundled:all-MiniLM-L6-v2", ONNX_FP32):
        with pytest.raises(StoreError, match="ingest --rebuild"):
            open_collection(make_settings(tmp_path / "idx", embed_model=other))


def test_an_unwritable_model_cache_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(EmbedderError, match="PAPERCHAT_MODEL_CACHE"):
        OnnxEmbedder(ONNX_FP32, blocker / "models").embed_query("hello")
