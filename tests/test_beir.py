"""The BEIR benchmark harness: metrics, split loading, an end-to-end run on a tiny corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.beir import load_beir, main, mrr, ndcg, recall, render, run

DOCS = {
    "d1": ("Quantum widgets", "We study quantum widgets and their entanglement properties in "
           "noisy channels. Our widgets improve fidelity by 12% over classical baselines."),
    "d2": ("Sparse gardens", "Sparse gardens are a new data structure for approximate nearest "
           "neighbour search. They cut memory use in half while keeping recall above 95%."),
    "d3": ("Tidal parsing", "Tidal parsing reads streams of tokens in waves, so a parser can "
           "recover from errors without backtracking. It runs in linear time on source code."),
    "d4": ("Glacial caching", "Glacial caching keeps rarely used objects in cold storage tiers "
           "and predicts their return. It lowers storage cost by 40% on production traces."),
}  # fmt: skip
QUERIES = {
    "q1": "Quantum widgets improve fidelity in noisy channels.",
    "q2": "A parser recovers from errors without backtracking.",
    "q3": "Cold storage tiers lower the cost of caching.",
    "q9": "A query judged only in the test split.",
}


def make_beir(root: Path) -> Path:
    (root / "qrels").mkdir(parents=True)
    with (root / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for did, (title, text) in DOCS.items():
            f.write(json.dumps({"_id": did, "title": title, "text": text, "metadata": {}}) + "\n")
    with (root / "queries.jsonl").open("w", encoding="utf-8") as f:
        for qid, text in QUERIES.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (root / "qrels" / "train.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\nq3\td4\t1\nq3\td2\t0\n"
    )
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq9\td2\t1\n")
    return root


def test_metrics_follow_beir_definitions() -> None:
    rel = {"a": 1, "b": 2}
    assert ndcg(["b", "a"], rel) == pytest.approx(1.0)
    assert ndcg(["x", "a"], rel) == pytest.approx((1 / 1.5849625) / (2 + 1 / 1.5849625))
    assert recall(["a", "x"], rel, 1) == 0.5 and recall(["x"] * 10 + ["b"], rel, 100) == 0.5
    assert mrr(["x", "y", "b"], rel) == pytest.approx(1 / 3) and mrr(["x"], rel) == 0.0


def test_split_selects_queries_and_drops_zero_judgments(tmp_path: Path) -> None:
    root = make_beir(tmp_path / "tiny")
    train = load_beir(root, "train")
    assert set(train.queries) == {"q1", "q2", "q3"}
    assert train.qrels["q3"] == {"d4": 1}
    assert set(load_beir(root, "test").queries) == {"q9"}
    with pytest.raises(FileNotFoundError, match="dev"):
        load_beir(root, "dev")


def test_run_scores_every_mode_end_to_end(tmp_path: Path, embedder, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import eval.beir as beir

    monkeypatch.setattr("rag.embed.make_embedder", lambda *a, **k: embedder)
    root = make_beir(tmp_path / "scifact")
    out = run(root, "train", tmp_path / "idx", show_progress=False)
    assert out["ingest"]["papers"] == 4 and out["ingest"]["skipped"] == 0
    by_mode = {r["mode"]: r for r in out["results"]}
    assert set(by_mode) == {"hybrid", "dense", "lexical"}
    for r in by_mode.values():
        assert r["queries"] == 3 and r["recall_100"] == 1.0
        assert r["ndcg_10"] > 0.9 and r["p95_ms"] >= r["p50_ms"] > 0
    assert "| published BM25 (BEIR, test split) | 0.665 |" in out["table"]
    again = run(root, "train", tmp_path / "idx", modes=["lexical"], show_progress=False)
    assert again["ingest"]["embedded"] == 0  # the index is reused
    assert beir.PUBLISHED_BM25["scifact"] == 0.665


def test_command_line_prints_the_table_and_writes_json(
    tmp_path: Path, embedder, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("rag.embed.make_embedder", lambda *a, **k: embedder)
    root = make_beir(tmp_path / "tiny")
    out = tmp_path / "out.json"
    code = main([str(root), "--data-dir", str(tmp_path / "idx"), "--modes", "lexical",
                 "--json", str(out)])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "| lexical |" in printed and "papers/s" in printed
    assert json.loads(out.read_text())["results"][0]["mode"] == "lexical"
    assert main([str(root), "--split", "nope"]) == 2
    capsys.readouterr()
    assert main([str(root), "--floor", "3"]) == 0
    floor = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert floor["papers"] == 3 and floor["ratio_to_floor"] > 0


def test_render_without_a_published_figure() -> None:
    data = load_beir.__globals__["BeirSet"]("custom", Path("x"), {}, {})
    assert "published" not in render([], data, "train")


def test_paperchat_eval_runs_a_beir_directory(tmp_path: Path, embedder, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from ui.cli import app

    monkeypatch.setattr("rag.embed.make_embedder", lambda *a, **k: embedder)
    monkeypatch.chdir(tmp_path)  # the index goes to eval/out/beir/<name> under it
    root = make_beir(tmp_path / "tiny")
    done = CliRunner().invoke(app, ["eval", "--beir", str(root)])
    assert done.exit_code == 0, done.output
    assert "| hybrid |" in done.output and "| dense |" in done.output
    bad = CliRunner().invoke(app, ["eval", "--beir", str(root), "--split", "nope"])
    assert bad.exit_code != 0 and "Traceback" not in bad.output
