"""The catalog's on-disk format: streamed writes, mapped reads, atomic swaps, cleanup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.index import catalog
from rag.index.lexical import LexicalIndex, tokenize
from rag.records import Paper
from rag.retrieval.retrieve import Filters, Retriever

ROOT = Path(__file__).resolve().parents[1]
WORDS = [
    "sparse",
    "tidal",
    "lattice",
    "gossip",
    "origami",
    "glacial",
    "ember",
    "prism",
    "velvet",
    "harbor",
    "quill",
]


def papers(n: int, seed: int = 0) -> list[tuple[Paper, list[str]]]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS, 25)) + f". Result {i}."
        authors = tuple(f"Ada {chr(65 + j)}. Lovelace-{j}" for j in range(i % 3))
        paper = Paper(
            id=f"{i * 7919 % 100_003:06x}{i:010x}",
            title=f"Paper <{i}>",
            abstract=text,
            authors=authors,
            year=2015 + i % 10 if i % 4 else None,
            sources=(f"part-{i % 5}.jsonl:{i + 1}",),
            doi=f"10.1/{i}" if i % 2 else None,
        )
        words = text.split()
        rows.append((paper, [" ".join(words[:12]), " ".join(words[12:])]))  # joined: the text
    return sorted(rows, key=lambda r: r[0].id)


def written(tmp_path: Path, rows: list[tuple[Paper, list[str]]]) -> Path:
    path = tmp_path / "catalog" / "key.json"
    catalog.publish(catalog.write_rows(iter(rows), path, "s1", "emb", "chunk/160", 9), path)
    return path


def test_streamed_catalog_equals_the_in_memory_one(tmp_path: Path) -> None:
    rows = papers(200)
    path = written(tmp_path, rows)
    lexical = LexicalIndex.build([catalog.lexical_doc(p) for p, _ in rows])
    held = catalog.in_memory("s1", "emb", "chunk/160", 9, rows, lexical)
    found = catalog.read(path, "s1")
    assert found is not None and found.lexical is not None
    assert found.papers == held.papers and found.texts == held.texts
    assert found.papers[-1] == rows[-1][0] and found.papers[3:5] == [p for p, _ in rows[3:5]]
    for query in ("sparse tidal", "result 17", "ember prism quill", "unknown"):
        terms = tokenize(query)
        assert np.allclose(found.lexical.scores(terms), lexical.scores(terms), atol=1e-6)
    for field in ("ids", "years", "n_chunks", "author_ptr", "author_idx", "source_ptr"):
        assert np.array_equal(getattr(found.index, field), getattr(held.index, field)), field
    assert found.index.author_keys == held.index.author_keys
    assert found.index.position(rows[42][0].id) == 42 and found.index.position("nope") is None
    assert catalog.read(path, "another stamp") is None


def test_rows_out_of_order_leave_nothing_behind(tmp_path: Path) -> None:
    rows = papers(20)
    path = tmp_path / "catalog" / "key.json"
    with pytest.raises(ValueError, match="sorted"):
        catalog.write_rows(iter(rows[::-1]), path, "s", "e", "c", 0)
    assert list(path.parent.iterdir()) == [] and catalog.read(path) is None


def test_publish_swaps_and_removes_what_it_replaced(tmp_path: Path) -> None:
    rows = papers(30)
    path = written(tmp_path, rows)
    first = catalog.current_folder(path)
    crashed = path.with_name(f"{path.stem}.deadbeef0001")  # a writer killed long ago
    crashed.mkdir()
    (crashed / ".writing").touch()
    os.utime(crashed / ".writing", (time.time() - 2 * 3600,) * 2)
    busy = path.with_name(f"{path.stem}.deadbeef0002")  # a writer still at work
    busy.mkdir()
    (busy / ".writing").touch()
    reader = catalog.read(path)  # a process holding the old catalog open
    assert reader is not None

    second = catalog.write_rows(iter(rows[:10]), path, "s2", "e", "c", 0)
    assert catalog.read_stamp(path) == "s1"  # written, not yet published
    catalog.publish(second, path)
    assert catalog.read_stamp(path) == "s2" and len(catalog.read(path).papers) == 10  # type: ignore[union-attr]
    assert first is not None and not first.exists() and not crashed.exists() and busy.exists()
    assert reader.papers[5] == rows[5][0]  # its mapped files outlive the folder's removal

    third = catalog.write_rows(iter(rows[:3]), path, "s3", "e", "c", 0)
    fourth = catalog.write_rows(iter(rows[:4]), path, "s4", "e", "c", 0)  # cleans up first
    assert len(catalog.read(third).papers) == 3  # type: ignore[union-attr]  # not taken away
    catalog.discard(fourth)
    catalog.discard(third)
    assert catalog.read_stamp(path) == "s2" and not third.exists()
    assert sorted(f.name for f in path.parent.iterdir() if f.is_dir()) == sorted(
        [catalog.current_folder(path).name, busy.name]  # type: ignore[union-attr]
    )


def test_filters_and_authors_from_a_read_catalog(tmp_path: Path) -> None:
    rows = papers(120)
    found = catalog.read(written(tmp_path, rows))
    assert found is not None
    r = Retriever.__new__(Retriever)
    r._use(found)
    cases = [
        Filters(author="lovelace-1"),
        Filters(author="ada b"),
        Filters(source="part-3"),
        Filters(year_min=2020, year_max=2022),
        Filters(author="nobody"),
    ]
    for f in cases:
        assert r._allowed(f).tolist() == [f.allows(p) for p, _ in rows], f
    assert r.match_author("What did Ada B. Lovelace-1 write?") == "ada b lovelace 1"
    assert len(r.author_papers("ada b lovelace 1")) == 40


@pytest.mark.slow
def test_opening_a_catalog_reads_none_of_its_papers(tmp_path: Path) -> None:
    """The rows stay in the mapped file: opening 20k papers (~7 MB of rows) and decoding
    one grows the resident memory by a fraction of the rows file."""
    rows = papers(20_000)
    path = written(tmp_path, rows)
    size = (catalog.current_folder(path) / "rows.bin").stat().st_size  # type: ignore[operator]
    probe = (
        "import json, sys\n"
        "from rag.index import catalog\n"
        "def rss():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmRSS:'):\n"
        "            return int(line.split()[1]) / 1024\n"
        "before = rss()\n"
        f"found = catalog.read(catalog.Path({str(path)!r}), lexical=False)\n"
        "paper = found.papers[12345]\n"
        "print(json.dumps([rss() - before, len(found.papers), paper.title]))\n"
    )
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    grown, n, title = json.loads(out.stdout.strip().splitlines()[-1])
    assert n == 20_000 and title == rows[12345][0].title
    assert grown < size / 2**20 / 4, (size, grown)  # decoding every row would take > size


def test_an_updated_catalog_equals_one_built_anew(tmp_path: Path) -> None:
    """Removed, new, rewritten and relabelled papers: the updated catalog (kept rows copied as
    stored, postings moved) reads back as the catalog of the same papers built from scratch."""
    from dataclasses import replace

    rows = papers(60)
    base = catalog.read(written(tmp_path, rows))
    assert base is not None
    removed = {rows[3][0].id, rows[40][0].id}
    new = [p for p in papers(70, seed=1)[-4:] if p[0].id not in {r[0].id for r in rows}]
    relabelled = replace(rows[7][0], authors=("Grace Hopper",), sources=("other.csv:2",))
    rewritten = (replace(rows[9][0], abstract="velvet harbor"), ["velvet harbor"])
    changed = [*new, (relabelled, None), rewritten]
    built = catalog.updated(base, "s2", 0, removed, changed)  # type: ignore[arg-type]
    assert built is not None
    expected_rows = {p.id: (p, t) for p, t in rows if p.id not in removed}
    expected_rows.update({p.id: (p, t) for p, t in new})
    expected_rows[relabelled.id] = (relabelled, rows[7][1])
    expected_rows[rewritten[0].id] = rewritten
    expected = sorted(expected_rows.values(), key=lambda r: r[0].id)
    path = tmp_path / "catalog" / "key.json"
    catalog.publish(catalog.write(built, path), path)
    found = catalog.read(path)
    assert found is not None and found.lexical is not None and built.lexical is not None
    anew = catalog.in_memory("s2", "emb", "chunk/160", 0, expected, None)
    assert found.papers == [p for p, _ in expected] and found.texts == [t for _, t in expected]
    for field in ("ids", "years", "n_chunks", "author_ptr", "author_idx", "source_ptr"):
        assert np.array_equal(getattr(found.index, field), getattr(anew.index, field)), field
    assert np.array_equal(found.index.source_idx, anew.index.source_idx)
    assert found.index.author_keys == anew.index.author_keys
    assert found.index.sources == anew.index.sources
    assert "grace hopper" in found.index.author_keys
    terms = tokenize("velvet harbor result 12")
    assert np.allclose(found.lexical.scores(terms), built.lexical.scores(terms))


def test_a_catalog_read_back_from_chroma_is_streamed_in_paper_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks stored in shuffled order and read in small pages: the catalog written from the
    collection has every complete paper in id order with its texts in chunk order, leaves out a
    half-written one, and leaves no spilled chunks behind."""
    from rag.index import store

    monkeypatch.setattr(store, "PAGE", 7)  # many pages of ids, of different widths
    rows = papers(30)
    rows[5] = (replace_id(rows[5][0], "z" * 40), rows[5][1])  # a longer id, still sorted last
    rows.sort(key=lambda r: r[0].id)
    half = rows[11][0].id
    collection = stored(tmp_path, rows, missing=f"{half}:1")  # its second chunk never written

    path = tmp_path / "catalog" / "key.json"
    catalog.publish(catalog.from_collection(collection, "s1", path), path)
    found = catalog.read(path, "s1")
    assert found is not None and found.lexical is not None
    expected = [(p, t) for p, t in rows if p.id != half]
    assert list(found.papers) == [p for p, _ in expected]
    assert list(found.texts) == [t for _, t in expected]
    assert found.stored_chunks == 2 * len(rows) - 1
    assert sorted(f.name for f in path.parent.iterdir()) == sorted(
        [path.name, catalog.current_folder(path).name]  # type: ignore[union-attr]
    )


def replace_id(paper: Paper, pid: str) -> Paper:
    from dataclasses import replace

    return replace(paper, id=pid)


def stored(tmp_path: Path, rows: list[tuple[Paper, list[str]]], missing: str = "") -> Any:
    """An embedded collection holding these papers' chunks in shuffled order (random vectors),
    without the chunk `missing`."""
    from rag.index import store
    from rag.index.writer import _metadata, content_hash
    from rag.records import Chunk
    from tests.conftest import make_settings

    collection = store.open_collection(make_settings(tmp_path / "idx"), create=True)
    entries = []
    for paper, texts in rows:
        meta = _metadata(paper, content_hash(paper), len(texts))
        for i, text in enumerate(texts):
            entries.append((Chunk(f"{paper.id}:{i}", paper.id, i, text, text, text), meta))
    entries = [e for e in entries if e[0].id != missing]
    order = np.random.default_rng(3).permutation(len(entries))
    shuffled = [entries[i] for i in order]
    vectors = np.random.default_rng(4).normal(size=(len(shuffled), 384)).tolist()
    store.add_chunks(collection, [c for c, _ in shuffled], vectors, [m for _, m in shuffled])
    return collection


def test_a_data_dir_that_cannot_be_written_still_gets_its_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No write access to the data dir: the catalog read back from Chroma is written to a
    temporary folder, opened, and that folder removed; nothing is left in the data dir."""
    import tempfile

    from rag.index.store import set_generation
    from tests.conftest import make_settings

    rows = papers(12)
    collection = stored(tmp_path, rows)
    set_generation(collection, "s1")
    settings = make_settings(tmp_path / "idx")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    writable = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if "catalog" in str(p) else writable(p, mode)
    )
    found = catalog.load(settings, collection)
    assert list(found.papers) == [p for p, _ in rows] and found.lexical is not None
    assert found.lexical.scores(tokenize("velvet")).any()
    assert not catalog.path_for(settings).parent.exists() or not any(
        catalog.path_for(settings).parent.iterdir()
    )
    assert not any((tmp_path / "tmp").iterdir())


def test_reading_a_collection_back_reports_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`PaperChat(progress=)` and ingest's progress follow the read-back from Chroma, a page
    at a time, up to every chunk stored; a current catalog reads nothing and reports nothing."""
    from rag.index import store
    from rag.index.store import set_generation
    from tests.conftest import make_settings

    monkeypatch.setattr(store, "PAGE", 5)
    rows = papers(12)
    collection = stored(tmp_path, rows)
    set_generation(collection, "s1")
    settings = make_settings(tmp_path / "idx")
    seen: list[tuple[int, int]] = []
    catalog.load(settings, collection, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(n, 24) for n in range(5, 25, 5)]
    seen.clear()
    catalog.load(settings, collection, progress=lambda done, total: seen.append((done, total)))
    assert seen == []
