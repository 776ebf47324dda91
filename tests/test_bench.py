"""Smoke test of the benchmark code at a tiny synthetic size (no wall-clock assertions)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eval.bench.run import judge, parse_size, run_bench, size_label
from eval.bench.synth import SeedPool, chunk_vectors, synthetic_papers

POOL = SeedPool(
    sentences=tuple(f"Sentence number {i} talks about topic {i % 7} in detail." for i in range(30)),
    title_heads=("Alpha", "Beta"),
    title_tails=("Fast Widgets", "Slow Gardens"),
    authors=("Ada Lovelace", "Alan Turing", "Grace Hopper"),
)


def test_parse_size_and_labels() -> None:
    assert parse_size("seed") == "seed"
    assert parse_size("10k") == 10_000
    assert parse_size("100K") == 100_000
    assert parse_size("200") == 200
    assert size_label(100_000) == "100k"
    assert size_label(250) == "250"


def test_synthetic_papers_are_deterministic_and_distinct() -> None:
    a = [p for p, _ in synthetic_papers(POOL, 50, seed=7)]
    b = [p for p, _ in synthetic_papers(POOL, 50, seed=7)]
    assert [p.id for p in a] == [p.id for p in b]
    assert len({p.id for p in a}) == 50
    assert any(p.authors for p in a) and any(not p.authors for p in a)
    assert all(p.year is None or 2015 <= p.year <= 2025 for p in a)
    assert all(p.sources and p.sources[0].startswith("synthetic/part-") for p in a)


def test_chunk_vectors_are_normalised_means() -> None:
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(len(POOL.sentences), 8)).astype(np.float32)
    ids = [3, 5, 9]
    texts = [f"{POOL.sentences[3]} {POOL.sentences[5]}", POOL.sentences[9], "unrelated text"]
    out, fallbacks = chunk_vectors(texts, ids, POOL, vecs)
    expected = vecs[[3, 5]].mean(axis=0)
    expected /= np.linalg.norm(expected)
    assert np.allclose(out[0], expected, atol=1e-5)
    assert all(abs(np.linalg.norm(v) - 1) < 1e-5 for v in out)
    assert fallbacks == 1  # the chunk holding no known sentence uses the paper's mean


def test_bench_runs_at_a_tiny_size(tmp_path: Path) -> None:
    results = run_bench(
        [200],
        tmp_path / "out",
        cache_dir=tmp_path / "cache",
        max_questions=3,
        server_sizes=[],
        skip={"ingest", "cold", "server"},
        sentence_limit=40,
        log=lambda _: None,
    )
    saved = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert saved["sizes"].keys() == results["sizes"].keys() == {"200"}
    assert {"meta", "loadavg", "sizes", "targets", "sentences"} <= saved.keys()
    assert "L2-normalised mean" in saved["meta"]["approximation"]
    assert saved["sentences"]["vectors"] == [40, 384]
    entry = saved["sizes"]["200"]
    build, query = entry["build"], entry["query"]
    assert build["papers"] == 200
    assert build["stored_chunks"] == build["chunks"] >= 200
    assert build["torch_imported"] is False  # writing from cached vectors needs no model
    assert query["papers"] == 200 and query["chunks"] == build["chunks"]
    for mode in ("search", "ask", "search_author", "search_source", "search_year"):
        lat = query["latency"][mode]
        assert lat["n"] == 3
        assert 0 < lat["p50_ms"] <= lat["p95_ms"]
    assert query["filters"]["author"] in POOL.authors or query["filters"]["author"]
    assert query["filtered_hits_mean"]["source"] > 0
    assert query["vmhwm_mb"] > 0 and build["vmhwm_mb"] > 0
    assert len(query["loadavg"]["end"]) == 3
    # 200 papers is neither the seed nor 100k: those targets are simply absent
    assert saved["targets"] == []


def test_judge_reads_every_target() -> None:
    lat = {"p50_ms": 10.0, "p95_ms": 20.0, "mean_ms": 12.0, "n": 5}
    query = {"latency": {"search": lat, "ask": lat, "search_author": {**lat, "p95_ms": 50.0}}}
    results = {
        "sizes": {"seed": {"query": query}, "100k": {"query": query}},
        "ingest": {"reingest_share": 0.01, "ingest_vs_floor": 0.95},
        "cold": {
            "import_floor": {"median_s": 3.0},
            "help": {"median_s": 0.3, "exit_code": 0, "imports": {"torch": False}},
            "stats": {"median_s": 0.5, "exit_code": 0, "imports": {"torch": True}},
            "ask": {"median_s": 4.0, "exit_code": 0},
        },
    }
    rows = {r["target"]: r["pass"] for r in judge(results)}
    assert rows["warm search p50, seed"] is True
    assert rows["author-filtered / unfiltered search p95, 100k"] is False  # 2.5x
    assert rows["`paperchat stats` cold (no torch import)"] is False  # imported torch
    assert rows["`paperchat help` cold (no torch import)"] is True
    assert rows["`paperchat ask` cold minus import floor"] is True


@pytest.mark.parametrize("text", ["seed", "1k"])
def test_size_round_trip(text: str) -> None:
    assert size_label(parse_size(text)) == text
