"""A changing ingest updates the catalog from the previous one instead of re-reading Chroma."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag.index import catalog
from rag.index.lexical import tokenize
from rag.index.store import generation, open_collection
from rag.index.writer import ingest
from tests.conftest import make_settings

WORDS = [
    "quantum",
    "widgets",
    "sparse",
    "gardens",
    "tidal",
    "parsing",
    "lattice",
    "gossip",
    "origami",
    "transformers",
    "glacial",
    "caching",
    "ember",
    "schedulers",
    "prism",
    "probing",
    "velvet",
    "compression",
    "harbor",
    "routing",
    "quill",
]


def abstract(i: int) -> str:
    rng = np.random.default_rng(i)
    words = " ".join(rng.choice(WORDS, 30))
    return f"Paper {i} studies {words}. It reports result number {i} on benchmark {i % 7}."


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def same(a: catalog.Catalog, b: catalog.Catalog) -> None:
    assert a.papers == b.papers and a.texts == b.texts and a.stored_chunks == b.stored_chunks
    assert a.lexical is not None and b.lexical is not None
    for query in ("quantum widgets", "tidal parsing benchmark", "result number 3", "zzz"):
        terms = tokenize(query)
        assert np.allclose(a.lexical.scores(terms), b.lexical.scores(terms), atol=1e-5)
        assert a.lexical.idf.keys() == b.lexical.idf.keys()


def test_incremental_catalog_equals_a_full_rebuild(
    tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rows = [
        {"id": f"p{i}", "title": f"T{i}", "abstract": abstract(i), "authors": ["A B"]}
        for i in range(12)
    ]
    write_jsonl(corpus / "a.jsonl", rows[:8])
    write_jsonl(corpus / "b.jsonl", rows[8:])
    settings = make_settings(tmp_path / "idx")
    ingest([corpus], settings, embedder)

    def no_full_read(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the catalog was rebuilt from Chroma")

    monkeypatch.setattr(catalog.readback, "from_collection", no_full_read)
    rows[2] = {**rows[2], "abstract": abstract(100)}  # changed: re-embedded
    rows[3] = {**rows[3], "doi": "10.1000/p3"}  # new identifier: relabelled
    write_jsonl(corpus / "a.jsonl", rows[:8] + [{"title": "New", "abstract": abstract(200)}])
    (corpus / "b.jsonl").unlink()  # its papers are removed
    write_jsonl(corpus / "c.jsonl", [rows[0]])  # a second source for p0: relabelled
    report = ingest([corpus, corpus / "b.jsonl"], settings, embedder)
    assert (report.added, report.updated, report.removed) == (2, 0, 5)  # p2 has a new id
    monkeypatch.undo()

    collection = open_collection(settings)
    saved = catalog.read(catalog.path_for(settings), generation(collection))
    assert saved is not None
    pointer = catalog.from_collection(collection, saved.stamp, tmp_path / "anew" / "key.json")
    same(saved, catalog.read(pointer))
    by_id = {p.source_ids[0]: p for p in saved.papers if p.source_ids}
    assert by_id["p3"].doi == "10.1000/p3" and len(by_id["p0"].sources) == 2


def test_catalog_of_an_older_format_is_replaced(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    """A zip catalog (formats 1-2) is not read: the index is read from Chroma once, a format-3
    catalog is saved beside it and the zip is removed."""
    from rag.retrieval.retrieve import Retriever

    corpus = tmp_path / "c.jsonl"
    write_jsonl(corpus, [{"title": f"T{i}", "abstract": abstract(i)} for i in range(4)])
    settings = make_settings(tmp_path / "idx")
    ingest([corpus], settings, embedder)
    path = catalog.path_for(settings)
    folder = catalog.current_folder(path)
    assert folder is not None
    shutil.rmtree(folder)
    path.unlink()
    old = path.with_suffix(".zip")
    old.write_bytes(b"PK\x03\x04 a format-2 catalog")
    retriever = Retriever(settings, embedder)
    assert sorted(p.title for p in retriever.papers) == ["T0", "T1", "T2", "T3"]
    assert catalog.read_stamp(path) == generation(open_collection(settings)) and not old.exists()


def test_an_ingest_past_the_delta_limit_reads_the_catalog_back_with_progress(
    tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """More changed papers than DELTA_LIMIT: the run lets go of its changes and reads the
    catalog back from Chroma at the end, reporting that through its progress callback; the
    catalog equals one read back anew."""
    from rag.index import generations, store
    from rag.index import writer as index

    monkeypatch.setattr(generations, "DELTA_LIMIT", 3)
    monkeypatch.setattr(store, "PAGE", 4)
    corpus = tmp_path / "a.jsonl"
    write_jsonl(corpus, [{"title": f"T{i}", "abstract": abstract(i)} for i in range(4)])
    settings = make_settings(tmp_path / "idx")
    ingest([corpus], settings, embedder)
    write_jsonl(corpus, [{"title": f"T{i}", "abstract": abstract(i)} for i in range(10)])
    reports: list[index.IngestProgress] = []
    ingest([corpus], settings, embedder, progress=reports.append)
    back = [p.catalog_chunks for p in reports if p.catalog_chunks is not None]
    stored = open_collection(settings).count()
    assert back and {t for _, t in back} == {stored}
    assert [d for d, _ in back] == list(range(4, stored + 1, 4))  # a page at a time
    collection = open_collection(settings)
    saved = catalog.read(catalog.path_for(settings), generation(collection))
    assert saved is not None and len(saved.papers) == 10
    pointer = catalog.from_collection(collection, saved.stamp, tmp_path / "anew" / "key.json")
    same(saved, catalog.read(pointer))
