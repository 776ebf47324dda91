"""Ingest against real embedded Chroma and the real embedder: idempotent, incremental, safe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.corpus.chunking import chunk_paper
from rag.corpus.loaders import load_paths
from rag.index.store import StoreError, load_papers, open_collection
from rag.index.writer import ingest
from tests.conftest import SEEDS, make_settings


def test_chunks_fit_the_model_and_keep_every_sentence(embedder) -> None:  # type: ignore[no-untyped-def]
    for paper in load_paths([SEEDS]).papers:
        chunks = chunk_paper(paper, 160, embedder.count_tokens)
        assert " ".join(c.text for c in chunks) == paper.abstract
        assert all(embedder.count_tokens(c.dense_text) <= 160 for c in chunks)
        assert all(paper.title in c.lexical_text for c in chunks)


def test_reingest_is_idempotent_and_incremental(
    tmp_path: Path, small_corpus: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "idx")
    first = ingest([small_corpus], settings, embedder)
    assert (first.added, first.papers_total) == (3, 3) and first.chunks_embedded >= 3
    again = ingest([small_corpus], settings, embedder)
    assert (again.added, again.updated, again.unchanged, again.chunks_embedded) == (0, 0, 3, 0)
    count = open_collection(settings).count()

    file = small_corpus / "papers.jsonl"
    rows = [json.loads(x) for x in file.read_text("utf-8").splitlines()]
    rows[0]["abstract"] = rows[0]["abstract"].replace("12%", "15%")  # a changed abstract
    del rows[2]  # a removed paper
    file.write_text("\n".join(json.dumps(r) for r in rows) + "\n", "utf-8")
    changed = ingest([small_corpus], settings, embedder)
    assert (changed.added, changed.unchanged, changed.removed) == (1, 1, 2)
    papers = load_papers(open_collection(settings))
    assert sorted(p.title for p in papers) == ["Quantum Widgets", "Sparse Gardens"]
    assert any("15%" in p.abstract for p in papers) and not any("12%" in p.abstract for p in papers)
    assert open_collection(settings).count() < count


def test_half_written_paper_is_completed(tmp_path: Path, small_corpus: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "idx", chunk_tokens=32)
    ingest([small_corpus], settings, embedder)
    collection = open_collection(settings)
    ids = collection.get(where={"title": "Tidal Parsing"})["ids"]
    assert len(ids) >= 2
    collection.delete(ids=ids[:1])  # as if the process died mid-write
    report = ingest([small_corpus], settings, embedder)
    assert report.updated == 1 and report.unchanged == 2
    assert len(open_collection(settings).get(where={"title": "Tidal Parsing"})["ids"]) == len(ids)


@pytest.mark.slow
def test_sources_merge_across_separate_ingests(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "idx")
    ingest([SEEDS / "001_e6c1fc7ecfa0a48b.txt"], settings, embedder)
    report = ingest([SEEDS / "002_bd0a92746cc09dbd.txt"], settings, embedder)
    assert report.added == 9 and report.chunks_embedded > 0
    treg = [p for p in load_papers(open_collection(settings)) if p.title.startswith("T-REG")]
    assert len(treg) == 1 and len(treg[0].sources) == 2


def test_rebuild_and_embedder_mismatch(tmp_path: Path, small_corpus: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "idx")
    ingest([small_corpus], settings, embedder)
    assert ingest([small_corpus], settings, embedder, rebuild=True).added == 3
    other = make_settings(tmp_path / "idx", chunk_tokens=100)
    with pytest.raises(StoreError, match="paperchat ingest --rebuild"):
        open_collection(other)


def test_missing_index_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="run `paperchat ingest` first"):
        open_collection(make_settings(tmp_path / "nothing"))


def test_second_concurrent_ingest_is_refused(tmp_path: Path, small_corpus: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    from rag.index.writer import ingest_lock

    settings = make_settings(tmp_path / "idx")
    with ingest_lock(settings), pytest.raises(StoreError, match="another ingest is running"):
        ingest([small_corpus], settings, embedder)
    assert ingest([small_corpus], settings, embedder).added == 3  # the lock is released


def test_relabelling_keeps_a_half_written_paper_invisible(
    tmp_path: Path, small_corpus: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    from rag.index import catalog
    from rag.index.catalog import contents
    from rag.index.store import PENDING, set_generation

    settings = make_settings(tmp_path / "idx", chunk_tokens=32)
    rows = [json.loads(x) for x in (small_corpus / "papers.jsonl").read_text("utf-8").splitlines()]
    (small_corpus / "more.jsonl").write_text(json.dumps(rows[2]) + "\n", "utf-8")  # Tidal twice
    ingest([small_corpus], settings, embedder)
    collection = open_collection(settings)
    ids = collection.get(where={"title": "Tidal Parsing"})["ids"]
    set_generation(collection, PENDING + "killed")  # what an ingest killed mid-write leaves:
    catalog.path_for(settings).unlink()  # a pending stamp, no catalog, a paper's chunk missing
    collection.delete(ids=ids[:1])
    (small_corpus / "papers.jsonl").write_text(
        "\n".join(json.dumps(r) for r in rows[:2]) + "\n", "utf-8"
    )
    report = ingest([small_corpus / "papers.jsonl"], settings, embedder)  # relabels Tidal
    assert (report.removed, report.chunks_embedded) == (0, 0)
    assert "Tidal Parsing" not in {p.title for p in contents(settings).papers}
    report = ingest([small_corpus / "more.jsonl"], settings, embedder)
    assert report.updated == 1  # found incomplete, embedded again
    tidal = [p for p in contents(settings).papers if p.title == "Tidal Parsing"]
    assert len(tidal) == 1 and [s.rsplit("/", 1)[1] for s in tidal[0].sources] == ["more.jsonl:1"]
