"""Shared fixtures: isolated data dirs, the real bundled embedder, a seed-corpus index."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from rag.config import Settings

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "corpus" / "seeds"


def _declare_checkout_commands() -> None:
    """Make this checkout's `paperchat.commands` entry points visible to the tests.

    They come from the installed metadata, which an editable install writes once: a checkout
    whose pyproject.toml gained commands since (another worktree sharing a venv, or a pull
    without `make setup`) would miss them. Then a throw-away dist-info declaring them goes on
    sys.path and PYTHONPATH (for subprocesses); with current metadata nothing happens.
    """
    try:
        import tomllib
    except ImportError:  # Python 3.10: keep the installed metadata
        return
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    wanted = declared.get("entry-points", {}).get("paperchat.commands", {})
    found = {e.name: e.value for e in entry_points(group="paperchat.commands")}
    if all(found.get(name) == value for name, value in wanted.items()):
        return
    folder = Path(tempfile.mkdtemp(prefix="paperchat-checkout-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    info = folder / "paperchat_checkout-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: paperchat-checkout\nVersion: 0\n")
    lines = ["[paperchat.commands]", *(f"{k} = {v}" for k, v in wanted.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    sys.path.append(str(folder))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", ""), str(folder)) if p
    )


_declare_checkout_commands()


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
    from rag.index.writer import ingest

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
