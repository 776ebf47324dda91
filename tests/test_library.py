"""The one door to an index (`rag.Library`): reload after another process's ingest, the busy
state during one, papers and stats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rag import IndexBusy, Library
from tests.conftest import ROOT, SMALL_CORPUS, make_settings

QUESTION = "Which data structure cuts memory use for nearest neighbour search?"
NEW_PAPER = {
    "title": "Glacier Drones",
    "abstract": "A swarm of low-cost drones photographs glacier surfaces and stitches the "
    "images into crevasse maps that find more crevasses than satellite maps.",
    "authors": ["Edmund Hillary"],
    "year": 2024,
}


def _ingest_in_another_process(data_dir: Path, corpus: Path) -> None:
    """Run `paperchat ingest` as a separate process, as a second terminal would."""
    code = "import sys\nfrom ui.cli import app\napp(['ingest', sys.argv[1]])\n"
    env = {"PAPERCHAT_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [sys.executable, "-c", code, str(corpus)], capture_output=True, text=True, env=env
    )
    assert run.returncode == 0, run.stderr


@pytest.mark.slow
def test_a_library_sees_an_ingest_by_another_process(
    tmp_path: Path, small_corpus: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "idx", backend="extractive")
    library = Library(settings, embedder=embedder)
    library.ingest([small_corpus])
    first = library.open()
    assert "Sparse gardens" in library.ask(QUESTION).text
    assert len(library.papers()) == 3
    assert library.open() is first  # an unchanged index keeps its session

    rows = [*SMALL_CORPUS, NEW_PAPER]
    (small_corpus / "papers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    _ingest_in_another_process(settings.data_dir, small_corpus)

    assert {p.title for p in library.papers()} >= {"Glacier Drones", "Sparse Gardens"}
    second = library.open()
    assert second is not first and second.embedder is first.embedder
    hits = library.search("glacier crevasse maps from drones", k=1).hits
    assert hits[0].paper.title == "Glacier Drones"
    assert library.stats().papers == 4


@pytest.mark.slow
def test_busy_while_an_ingest_runs_and_a_rebuild_is_followed(
    tmp_path: Path, small_corpus: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    from rag.index.lock import ingest_lock

    settings = make_settings(tmp_path / "idx", backend="extractive")
    library = Library(settings, embedder=embedder)
    assert library.busy() is None
    library.ingest([small_corpus])
    first = library.open()
    with ingest_lock(settings):
        assert library.busy() and library.busy().startswith("pid ")  # type: ignore[union-attr]
        with pytest.raises(IndexBusy, match="being updated.*pid"):
            library.ask(QUESTION)
    library.ingest([small_corpus], rebuild=True)  # drops the collection `first` read
    assert "Sparse gardens" in library.ask(QUESTION).text
    assert library.open() is not first


def test_papers_and_stats_of_an_index(seed_settings, embedder) -> None:  # type: ignore[no-untyped-def]
    library = Library(seed_settings, embedder=embedder)
    papers = library.papers()
    assert len(papers) == 157 and [p.id for p in papers] == sorted(p.id for p in papers)
    stats = library.stats()
    assert (stats.papers, stats.collection, stats.backend) == (157, "paperchat", "extractive")
    assert stats.chunks >= stats.papers and stats.embedder
    assert library.papers() == papers  # kept while the stamp holds


def test_a_missing_index_is_one_clear_error(tmp_path: Path) -> None:
    from rag.errors import PaperchatError

    library = Library(make_settings(tmp_path / "nothing"))
    with pytest.raises(PaperchatError, match="paperchat ingest"):
        library.papers()


def test_libraries_keep_one_library_per_collection(tmp_path: Path) -> None:
    from rag import Libraries, collections

    settings = make_settings(tmp_path / "store", collection="alpha")
    libraries = Libraries(settings)
    assert libraries.names() == ["alpha"]  # the configured one, before its first ingest
    collections.create(settings, "beta")
    assert libraries.names() == ["alpha", "beta"]  # the store's, as `collections list` sees
    alpha, beta = libraries.get("alpha"), libraries.get("beta")
    assert libraries.get("alpha") is alpha and beta is not alpha  # made once, then kept
    assert (alpha.settings.collection, beta.settings.collection) == ("alpha", "beta")
    assert beta.settings.data_dir == settings.data_dir
    with pytest.raises(collections.CollectionError, match="no collection 'gamma'"):
        libraries.get("gamma")  # unknown names open nothing


def test_the_configured_collection_is_got_without_listing_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag import Libraries
    from rag.index import store

    libraries = Libraries(make_settings(tmp_path / "store", collection="alpha"))
    alpha = libraries.get("alpha")

    def listed(settings: object) -> list[str]:
        raise AssertionError("the store was listed")

    monkeypatch.setattr(store, "collection_names", listed)
    assert libraries.get("alpha") is alpha  # asked with every question: no store round trip
    with pytest.raises(AssertionError, match="listed"):
        libraries.get("beta")  # any other name is checked against the store


def test_libraries_share_the_embedder_one_has_loaded(tmp_path: Path) -> None:
    from rag import Libraries, collections

    settings = make_settings(tmp_path / "store")
    collections.create(settings, "other")
    loaded = object()  # stands for an embedder: only its identity matters here
    first = Library(settings, embedder=loaded)  # type: ignore[arg-type]
    libraries = Libraries(settings, first)
    assert libraries.get(settings.collection) is first
    assert libraries.get("other").loaded_embedder() is loaded
    assert Libraries(settings).get("other").loaded_embedder() is None  # none loaded yet
