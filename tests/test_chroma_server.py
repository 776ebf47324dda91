"""The Chroma server path, against a real `chroma run` on loopback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag import catalog
from rag.index import ingest
from rag.pipeline import PaperChat
from rag.store import StoreError, generation, open_collection
from tests.conftest import SMALL_CORPUS, free_port, make_settings


@pytest.fixture()
def chroma_server(tmp_path: Path) -> Iterator[int]:
    """Start `chroma run` on a free loopback port; stop it afterwards."""
    exe = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    port = free_port()
    proc = subprocess.Popen(
        [
            exe,
            "run",
            "--path",
            str(tmp_path / "server"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
                break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("chroma server did not start")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_ingest_and_search_through_a_chroma_server(
    tmp_path: Path,
    small_corpus: Path,
    embedder,
    chroma_server: int,  # type: ignore[no-untyped-def]
) -> None:
    settings = make_settings(
        tmp_path / "unused", chroma_host="127.0.0.1", chroma_port=chroma_server
    )
    assert ingest([small_corpus], settings, embedder).added == 3
    assert ingest([small_corpus], settings, embedder).chunks_embedded == 0
    assert not (tmp_path / "unused" / "chroma").exists()  # nothing written locally
    session = PaperChat(settings, embedder=embedder)
    hits = session.search("approximate nearest neighbour memory", k=2).hits
    assert hits[0].paper.title == "Sparse Gardens"
    assert "chroma server http://127.0.0.1" in settings.store_location()
    assert catalog.read_stamp(catalog.path_for(settings)) == generation(open_collection(settings))


def test_catalog_is_checked_against_a_server_another_machine_wrote(
    tmp_path: Path,
    small_corpus: Path,
    embedder,
    chroma_server: int,  # type: ignore[no-untyped-def]
) -> None:
    here = make_settings(tmp_path / "here", chroma_host="127.0.0.1", chroma_port=chroma_server)
    there = make_settings(tmp_path / "there", chroma_host="127.0.0.1", chroma_port=chroma_server)
    ingest([small_corpus], here, embedder)
    assert len(catalog.contents(here).papers) == 3
    assert catalog.path_for(here).exists()

    extra = small_corpus / "more.jsonl"
    extra.write_text(
        json.dumps(
            {
                **SMALL_CORPUS[0],
                "title": "Quantum Widgets II",
                "abstract": "Sequel. " + str(SMALL_CORPUS[0]["abstract"]),
            }
        )
        + "\n",
        "utf-8",
    )
    ingest([small_corpus], there, embedder)  # another machine: `here`'s catalog is now stale
    assert len(catalog.contents(here).papers) == 4
    session = PaperChat(here, embedder=embedder)
    assert "Quantum Widgets II" in {p.title for p in session.retriever.papers}
    stamp = generation(open_collection(here))
    assert catalog.read_stamp(catalog.path_for(here)) == stamp  # refreshed by the retriever


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, chroma_host="127.0.0.1", chroma_port=free_port())
    with pytest.raises(StoreError, match="cannot reach chroma server"):
        open_collection(settings)
