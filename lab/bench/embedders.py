"""ONNX embedders vs the fp32 PyTorch floor: `python -m lab.bench.embedders [--out DIR]`.

Throughput: every variant embeds the same seed chunk texts in one process, round-robin, so
load from other processes hits them alike; the floor is raw `SentenceTransformer.encode`.
Retrieval: each embedder ingests the seeds into its own fresh data dir (one process each) and
is scored on the dev question set (recall@5, MRR@10; dense alone and hybrid).
The int8 embedder qualifies as the default only with >= 2x the floor's throughput and
recall@5 within 0.01 of the fp32 model.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from lab.bench.run import QUESTIONS, loadavg, machine, worker
from lab.bench.synth import SEEDS

FLOOR = "floor"
SPEEDUP_GOAL = 2.0
RECALL_TOLERANCE = 0.01
MODES = ("dense", "hybrid")


def variants() -> list[dict[str, Any]]:
    """The measured embedders: label, settings spec, onnxruntime threads (0 = its default)."""
    from rag.embed import BUNDLED
    from rag.embed.onnx import ONNX_FP32, ONNX_INT8

    return [
        {"label": FLOOR, "spec": BUNDLED, "threads": 0},
        {"label": "onnx fp32", "spec": ONNX_FP32, "threads": 0},
        {"label": "onnx int8", "spec": ONNX_INT8, "threads": 0},
        {"label": "onnx int8, 1 thread", "spec": ONNX_INT8, "threads": 1},
    ]


def _embedder(spec: str, cache_dir: Path, threads: int = 0) -> Any:
    from rag.embed import make_embedder
    from rag.embed.onnx import OnnxEmbedder

    if spec.startswith("bundled-onnx"):
        return OnnxEmbedder(spec, cache_dir, threads=threads)
    return make_embedder(spec)


def task_throughput(args: dict[str, Any]) -> dict[str, Any]:
    """Time every variant on the same chunk texts, interleaved, and compare its vectors."""
    import numpy as np

    from rag.corpus.chunking import chunk_paper
    from rag.corpus.loaders import load_paths

    cache = Path(args["cache_dir"])
    found = {v["label"]: v for v in variants()}
    embedders = {label: _embedder(v["spec"], cache, v["threads"]) for label, v in found.items()}
    floor_model = embedders[FLOOR]._model
    papers = load_paths([Path(p) for p in args["corpus"]]).papers
    count = embedders[FLOOR].count_tokens
    texts = [c.dense_text for p in papers for c in chunk_paper(p, 160, count)]
    lines = Path(args["questions"]).read_text().splitlines()
    questions = [json.loads(x)["question"] for x in lines]

    def run(label: str, batch: list[str]) -> Any:
        if label == FLOOR:  # the floor: raw encode, as the ingest benchmark measures it
            return floor_model.encode(batch, batch_size=32, normalize_embeddings=True)
        return np.asarray(embedders[label].embed_documents(batch))

    out: dict[str, Any] = {"papers": len(papers), "chunks": len(texts), "variants": {}}
    for label, v in found.items():
        t = time.perf_counter()
        run(label, texts[:16])  # loads (or exports) the model, outside the timed rounds
        out["variants"][label] = {**v, "load_s": round(time.perf_counter() - t, 2), "runs_s": []}
    vectors: dict[str, Any] = {}
    for _ in range(int(args.get("rounds", 2))):
        for label in found:
            t = time.perf_counter()
            vectors[label] = run(label, texts)
            out["variants"][label]["runs_s"].append(round(time.perf_counter() - t, 2))
    for label, entry in out["variants"].items():
        cos = (vectors[label] * vectors[FLOOR]).sum(axis=1)
        runs = entry["runs_s"]
        ratios = [f / s for f, s in zip(out["variants"][FLOOR]["runs_s"], runs, strict=True)]
        ms = []
        for q in questions:
            t = time.perf_counter()
            embedders[label].embed_query(q)
            ms.append((time.perf_counter() - t) * 1000)
        entry |= {
            "papers_per_s": round(len(papers) / statistics.median(runs), 2),
            "chunks_per_s": round(len(texts) / statistics.median(runs), 2),
            "speedup_vs_floor": round(statistics.median(ratios), 2),
            "cosine_vs_floor_min": round(float(cos.min()), 4),
            "cosine_vs_floor_mean": round(float(cos.mean()), 4),
            "embed_query_p50_ms": round(statistics.median(ms), 2),
        }
        if label != FLOOR:
            entry["model_mb"] = round(embedders[label].model_file.stat().st_size / 1e6, 1)
    return out


def task_retrieval(args: dict[str, Any]) -> dict[str, Any]:
    """Ingest the corpus with one embedder into a fresh data dir and score the question set."""
    from eval.retrieval import evaluate, load_questions
    from rag.config import Settings
    from rag.index.writer import ingest
    from rag.pipeline import PaperChat

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=Path(args["data_dir"]),
        embed_model=args["spec"],
        backend="extractive",
    )
    emb = _embedder(args["spec"], Path(args["cache_dir"]), int(args.get("threads", 0)))
    t = time.perf_counter()
    report = ingest([Path(p) for p in args["corpus"]], settings, emb)
    ingest_s = time.perf_counter() - t
    session = PaperChat(settings, embedder=emb)
    questions = load_questions(Path(args["questions"]))
    result: dict[str, Any] = {"ingest_s": round(ingest_s, 2), "chunks": report.chunks_embedded}
    for mode in MODES:
        f = evaluate(session, questions, mode)
        result[mode] = {"recall@5": f["all"]["recall@5"], "mrr@10": f["all"]["mrr@10"]}
    return result


def verdict(results: dict[str, Any]) -> dict[str, Any]:
    """Judge the int8 embedder against the bar for becoming the default."""
    from rag.embed.onnx import ONNX_INT8

    speed = results["throughput"]["variants"]["onnx int8"]["speedup_vs_floor"]
    ret = results["retrieval"]
    gaps = {
        m: round(ret[ONNX_INT8][m]["recall@5"] - ret[variants()[0]["spec"]][m]["recall@5"], 4)
        for m in MODES
    }
    recall_ok = all(abs(g) <= RECALL_TOLERANCE for g in gaps.values())
    return {
        "speedup": speed,
        "speedup_ok": speed >= SPEEDUP_GOAL,
        "recall_gap": gaps,
        "recall_ok": recall_ok,
        "make_default": speed >= SPEEDUP_GOAL and recall_ok,
    }


def run_embedders(
    out: Path, cache_dir: Path, corpus: list[Path], questions: Path, rounds: int
) -> dict[str, Any]:
    """Run throughput and retrieval for every embedder, write `embedders.json`, return it."""
    out.mkdir(parents=True, exist_ok=True)
    common = {"cache_dir": str(cache_dir), "corpus": [str(p) for p in corpus]}
    results: dict[str, Any] = {
        "meta": {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine()},
        "loadavg": {"start": loadavg()},
    }
    print(f"throughput, {rounds} interleaved rounds (load {loadavg()})", flush=True)
    results["throughput"] = worker(
        "embed_throughput", {**common, "rounds": rounds, "questions": str(questions)}
    )
    results["retrieval"] = {}
    for spec in dict.fromkeys(v["spec"] for v in variants()):
        data_dir = out / "data" / spec.replace(":", "_")
        shutil.rmtree(data_dir, ignore_errors=True)
        print(f"retrieval with {spec} (load {loadavg()})", flush=True)
        results["retrieval"][spec] = worker(
            "embed_retrieval",
            {**common, "spec": spec, "data_dir": str(data_dir), "questions": str(questions)},
        )
    results["loadavg"]["end"] = loadavg()
    results["verdict"] = verdict(results)
    (out / "embedders.json").write_text(json.dumps(results, indent=2, default=str))
    return results


def render(results: dict[str, Any]) -> None:
    """Print the throughput, retrieval and verdict tables."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 130))
    load = results["loadavg"]
    console.print(f"[dim]load average start {load['start']} end {load.get('end')}[/dim]")
    tp = results["throughput"]
    t = Table(title=f"Embedding {tp['papers']} seed abstracts ({tp['chunks']} chunks)")
    for col in ("embedder", "papers/s", "chunks/s", "x floor", "runs s", "cos min / mean",
                "query p50 ms", "load s", "MB"):  # fmt: skip
        t.add_column(col, justify="right")
    for label, v in tp["variants"].items():
        t.add_row(
            label,
            str(v["papers_per_s"]),
            str(v["chunks_per_s"]),
            str(v["speedup_vs_floor"]),
            " / ".join(map(str, v["runs_s"])),
            f"{v['cosine_vs_floor_min']} / {v['cosine_vs_floor_mean']}",
            str(v["embed_query_p50_ms"]),
            str(v["load_s"]),
            str(v.get("model_mb", "—")),
        )
    console.print(t)
    console.print(f"[dim]throughput load {tp['loadavg']}[/dim]")
    t = Table(title="Dev question set, each embedder in its own fresh index")
    for col in ("embedder", "dense recall@5", "dense MRR@10", "hybrid recall@5", "hybrid MRR@10"):
        t.add_column(col, justify="right")
    for spec, r in results["retrieval"].items():
        t.add_row(spec, *(f"{r[m][k]:.3f}" for m in MODES for k in ("recall@5", "mrr@10")))
    console.print(t)
    v = results["verdict"]
    console.print(
        f"int8: {v['speedup']}x the floor (goal >= {SPEEDUP_GOAL}: "
        f"{'pass' if v['speedup_ok'] else 'FAIL'}); recall@5 gap {v['recall_gap']} (goal within "
        f"{RECALL_TOLERANCE}: {'pass' if v['recall_ok'] else 'FAIL'}) -> "
        f"{'make it the default' if v['make_default'] else 'keep fp32 PyTorch the default'}"
    )


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run the embedder benchmark, print the tables."""
    ap = argparse.ArgumentParser(prog="python -m lab.bench.embedders", description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("eval/out/bench-embedders"))
    ap.add_argument("--cache", type=Path, default=None, help="ONNX cache (default: OUT/models)")
    ap.add_argument("--corpus", type=Path, action="append", default=None, help="default: seeds")
    ap.add_argument("--questions", type=Path, default=QUESTIONS)
    ap.add_argument("--rounds", type=int, default=2, help="interleaved timing rounds")
    ap.add_argument("--render", type=Path, default=None, help="only print an earlier JSON")
    a = ap.parse_args(argv)
    if a.render:
        render(json.loads(a.render.read_text()))
        return
    results = run_embedders(
        a.out, a.cache or a.out / "models", a.corpus or [SEEDS], a.questions, a.rounds
    )
    render(results)
    print(f"wrote {a.out / 'embedders.json'}")


if __name__ == "__main__":
    main()
