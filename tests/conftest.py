"""Shared fixtures: isolated data dirs, the real bundled embedder, a seed-corpus index."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.config import Settings

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "corpus" / "seeds"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Send every data dir to tmp_path and forget any API key or endpoint."""
    for name in list(os.environ):
        if name.startswith(("PAPERCHAT_", "OPENAI_", "CHROMA_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PAPERCHAT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)  # no developer .env is read


def free_port() -> int:
    """Return a free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    """Build settings that ignore any .env file."""
    return Settings(_env_file=None, data_dir=data_dir, **overrides)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def embedder():  # type: ignore[no-untyped-def]
    """The real bundled all-MiniLM-L6-v2, loaded once per test session."""
    from rag.embed import make_embedder

    return make_embedder("bundled:all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory: pytest.TempPathFactory, embedder) -> Settings:  # type: ignore[no-untyped-def]
    """Settings for an index of the five seed files, built once per session."""
    from rag.index import ingest

    settings = make_settings(tmp_path_factory.mktemp("seed-index"))
    ingest([SEEDS], settings, embedder)
    return settings


@pytest.fixture(scope="session")
def seed_session(seed_settings: Settings, embedder):  # type: ignore[no-untyped-def]
    """A PaperChat over the seed index."""
    from rag.pipeline import PaperChat

    return PaperChat(seed_settings, embedder=embedder)


SMALL_CORPUS = [
    {
        "title": "Quantum Widgets",
        "abstract": "We study quantum widgets and their entanglement properties in noisy "
        "channels. Our widgets improve fidelity by 12% over classical baselines on three "
        "benchmarks.",
        "authors": ["Ada Lovelace"],
        "year": 2021,
    },
    {
        "title": "Sparse Gardens",
        "abstract": "Sparse gardens are a new data structure for approximate nearest neighbour "
        "search. They cut memory use in half while keeping recall above 95% on standard "
        "datasets.",
        "authors": "Grace Hopper; Alan Turing",
        "year": 2023,
    },
    {
        "title": "Tidal Parsing",
        "abstract": "Tidal parsing reads streams of tokens in waves, so a parser can recover "
        "from errors without backtracking. We prove it runs in linear time and evaluate it on "
        "noisy source code.",
        "authors": ["Barbara Liskov"],
        "year": 2019,
    },
]


@pytest.fixture()
def small_corpus(tmp_path: Path) -> Iterator[Path]:
    """A folder with a few JSONL papers, fast to embed."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    lines = [json.dumps(record) for record in SMALL_CORPUS]
    (folder / "papers.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    yield folder
