"""The catalog beside the index: written by ingest, stamped, ignored when stale, same results."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import rag.index.writer
from rag.config import Settings
from rag.index import catalog
from rag.index.store import PENDING, generation, load_papers, open_collection
from rag.index.writer import ingest
from rag.pipeline import PaperChat
from rag.retrieval.retrieve import Filters, Retriever
from tests.conftest import ROOT, SMALL_CORPUS, make_settings

QUESTIONS = [
    "Which papers shorten chain-of-thought reasoning?",
    "How does STeCa calibrate trajectories?",
    "What has Chak Tou Leong worked on?",
    "reward models for alignment",
    "quantum widgets entanglement",
]


def _hits(retriever: Retriever, question: str, **options: object) -> list[tuple[object, ...]]:
    result = retriever.search(question, 5, **options)  # type: ignore[arg-type]
    return [
        (h.paper, h.score, h.dense_score, h.lexical_score, h.passages, h.matched_author)
        for h in result.hits
    ] + [(result.top_dense, result.top_coverage, result.unknown_terms, result.author)]


def _by_id(papers: list) -> list:  # type: ignore[type-arg]
    return sorted(papers, key=lambda p: p.id)


def _write_corpus(folder: Path, records: list[dict[str, object]]) -> None:
    lines = [json.dumps(r) for r in records]
    (folder / "papers.jsonl").write_text("\n".join(lines) + "\n", "utf-8")


def test_results_are_identical_with_and_without_the_catalog(
    tmp_path: Path, seed_settings: Settings, embedder, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "copy"
    shutil.copytree(seed_settings.data_dir, data)
    settings = make_settings(data)
    path = catalog.path_for(settings)  # the copy's key differs: no catalog there yet
    assert not path.exists()
    from_chroma = Retriever(settings, embedder)
    assert catalog.read_stamp(path) == generation(from_chroma.collection)  # saved for next time

    def no_chroma_read(*args: object) -> None:
        raise AssertionError("the catalog should have been used")

    monkeypatch.setattr(catalog.readback, "from_collection", no_chroma_read)
    from_catalog = Retriever(settings, embedder)
    assert from_catalog.papers == from_chroma.papers and len(from_catalog.papers) == 157
    assert [c.text for c in from_catalog.chunk_rows()] == [c.text for c in from_chroma.chunk_rows()]
    for question in QUESTIONS:
        for mode in ("hybrid", "lexical", "dense"):
            assert _hits(from_catalog, question, mode=mode) == _hits(
                from_chroma, question, mode=mode
            )
        year = Filters(year_min=2024)  # a year some seed papers have (none has 2025)
        assert _hits(from_catalog, question, filters=year) == _hits(
            from_chroma, question, filters=year
        )


def test_ingest_writes_the_catalog_and_keeps_it_when_nothing_changed(
    tmp_path: Path, small_corpus: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "idx")
    ingest([small_corpus], settings, embedder)
    path = catalog.path_for(settings)
    stamp = generation(open_collection(settings))
    assert stamp and not stamp.startswith(PENDING) and catalog.read_stamp(path) == stamp
    found = catalog.read(path, stamp)
    assert found is not None
    assert found.papers == _by_id(load_papers(open_collection(settings)))
    before = path.stat()
    assert ingest([small_corpus], settings, embedder).chunks_embedded == 0
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert generation(open_collection(settings)) == stamp


def test_interrupted_ingest_leaves_no_catalog_and_retrieval_reads_chroma(
    tmp_path: Path, small_corpus: Path, embedder, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "idx", chunk_tokens=32, embed_batch_size=1)  # 4/write
    ingest([small_corpus], settings, embedder)
    path = catalog.path_for(settings)
    more = [
        {**r, "title": f"{r['title']} II", "abstract": f"A sequel. {r['abstract']}"}
        for r in SMALL_CORPUS
    ]
    _write_corpus(small_corpus, SMALL_CORPUS + more)

    real_add = rag.index.writer.add_chunks
    writes: list[bool] = []

    def add_then_die(*args, **kwargs):  # type: ignore[no-untyped-def]
        writes.append(path.exists())
        if len(writes) == 2:
            raise RuntimeError("killed mid-ingest")
        real_add(*args, **kwargs)

    monkeypatch.setattr(rag.index.writer, "add_chunks", add_then_die)
    with pytest.raises(RuntimeError, match="killed mid-ingest"):
        ingest([small_corpus], settings, embedder)
    assert writes == [False, False]  # removed before the first chunk was written
    assert not path.exists()
    assert generation(open_collection(settings)).startswith(PENDING)  # type: ignore[union-attr]

    in_chroma = _by_id(load_papers(open_collection(settings)))
    assert 3 < len(in_chroma) < 6  # the first write landed, the second did not
    retriever = Retriever(settings, embedder)
    assert retriever.papers == in_chroma
    assert not path.exists()  # a pending stamp: nothing is saved
    hits = retriever.search("approximate nearest neighbour memory", 2).hits
    assert hits[0].paper.title.startswith("Sparse Gardens")
    assert _by_id(catalog.contents(settings).papers) == in_chroma

    monkeypatch.setattr(rag.index.writer, "add_chunks", real_add)
    ingest([small_corpus], settings, embedder)
    assert catalog.read_stamp(path) == generation(open_collection(settings))
    assert len(catalog.contents(settings).papers) == 6


def test_stale_catalog_is_ignored_and_replaced(
    tmp_path: Path, small_corpus: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "idx")
    ingest([small_corpus], settings, embedder)
    path = catalog.path_for(settings)
    pointer, folder = path.read_text(), catalog.current_folder(path)
    assert folder is not None
    shutil.copytree(folder, tmp_path / "old-catalog")
    _write_corpus(small_corpus, SMALL_CORPUS[:2])  # Tidal Parsing is gone
    ingest([small_corpus], settings, embedder)
    assert not folder.exists()  # the superseded folder is removed when the new one is published
    shutil.copytree(tmp_path / "old-catalog", folder)  # e.g. restored from a backup
    path.write_text(pointer)
    stamp = generation(open_collection(settings))
    assert catalog.read_stamp(path) not in (None, stamp)  # its stamp is the old generation

    retriever = Retriever(settings, embedder)
    assert sorted(p.title for p in retriever.papers) == ["Quantum Widgets", "Sparse Gardens"]
    assert catalog.read_stamp(path) == stamp  # rewritten from Chroma


def test_papers_and_stats_read_the_catalog_without_chromadb_or_torch(
    seed_settings: Settings,
) -> None:
    probe = (
        "import json, sys\n"
        "from ui.cli import app\n"
        "try:\n"
        "    app(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('chromadb', 'torch', 'bm25s')\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
    )

    def run(*args: str) -> tuple[object, list[str]]:
        env = os.environ | {
            "PYTHONPATH": str(ROOT),
            "PAPERCHAT_DATA_DIR": str(seed_settings.data_dir),
        }
        proc = subprocess.run(
            [sys.executable, "-c", probe, *args], capture_output=True, text=True, env=env
        )
        assert proc.returncode == 0, proc.stderr
        *body, imported = proc.stdout.strip().splitlines()
        return json.loads("\n".join(body)), json.loads(imported)

    papers, imported = run("papers", "--json")
    assert imported == []
    collection = open_collection(seed_settings)
    expected = _by_id(load_papers(collection))
    assert sorted((p["id"], p["title"], p["abstract"], tuple(p["authors"])) for p in papers) == [  # type: ignore[union-attr]
        (p.id, p.title, p.abstract, p.authors) for p in expected
    ]
    stats, imported = run("stats", "--json")
    assert imported == []
    assert stats["papers"] == len(expected) and stats["chunks"] == collection.count()  # type: ignore[index]
    assert stats["embedder"] == (collection.metadata or {})["embedder"]  # type: ignore[index]


def test_papers_without_a_catalog_come_from_chroma(tmp_path: Path, seed_settings: Settings) -> None:
    data = tmp_path / "copy"
    shutil.copytree(seed_settings.data_dir, data)
    settings = make_settings(data)
    assert not catalog.path_for(settings).exists()
    held = catalog.contents(settings)
    assert _by_id(held.papers) == _by_id(load_papers(open_collection(seed_settings)))
    assert held.stored_chunks == open_collection(seed_settings).count()


def test_catalog_of_another_embedder_is_refused(
    tmp_path: Path, small_corpus: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    from rag.index.store import StoreError

    ingest([small_corpus], make_settings(tmp_path / "idx"), embedder)
    with pytest.raises(StoreError, match="paperchat ingest --rebuild"):
        catalog.contents(make_settings(tmp_path / "idx", chunk_tokens=100))


def test_session_answers_the_same_from_the_catalog(seed_settings: Settings, embedder) -> None:  # type: ignore[no-untyped-def]
    assert catalog.read_stamp(catalog.path_for(seed_settings)) == generation(
        open_collection(seed_settings)
    )
    answer = PaperChat(seed_settings, embedder=embedder).ask(QUESTIONS[1])
    assert not answer.abstained and answer.citations[0].title.startswith("STeCa")


def test_bm25_of_another_tokenizer_is_rebuilt(tmp_path: Path, small_corpus: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    from rag.index.lexical import TOKENIZER, LexicalIndex

    settings = make_settings(tmp_path / "idx")
    ingest([small_corpus], settings, embedder)
    path = catalog.path_for(settings)
    folder = catalog.current_folder(path)
    assert folder is not None
    header = json.loads((folder / catalog.HEADER).read_text())
    assert header["tokenizer"] == TOKENIZER
    (folder / catalog.HEADER).write_text(json.dumps({**header, "tokenizer": "an older one"}))
    # its BM25 would not match today's query terms: re-indexed from the saved papers (no Chroma)
    found = catalog.read(path)
    assert found is not None and found.lexical is not None
    fresh = LexicalIndex.build([catalog.lexical_doc(p) for p in found.papers])
    assert list(found.lexical.vocab) == list(fresh.vocab)
    assert catalog.read(path, lexical=False) is not None  # `papers` and `stats` still use it

    retriever = Retriever(settings, embedder)
    assert retriever.search("nearest neighbour memory", 1).hits[0].paper.title == "Sparse Gardens"
