"""`python -m lab.bench [--sizes seed,10k,100k] [--out DIR]`: run, print a table, write JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from lab.bench.run import DEFAULT_CACHE, parse_size, run_bench, size_label


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
    return str(v)


def render(results: dict[str, Any]) -> None:
    """Print the figures and the target verdicts as rich tables."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    load = results["loadavg"]
    console.print(f"[dim]load average start {load['start']} end {load.get('end')}[/dim]")
    ing = results.get("ingest")
    if ing:
        t = Table(title="Ingest (rag.index.writer.ingest, fresh data dir) vs raw encode floor")
        for col in (
            "papers",
            "chunks",
            "ingest s",
            "papers/s",
            "floor papers/s",
            "ingest/floor",
            "llama-index import s",
            "re-ingest s",
            "re-ingest share",
            "peak RSS MB",
            "load",
        ):
            t.add_column(col, justify="right")
        t.add_row(
            *map(
                _fmt,
                (
                    ing["papers"],
                    ing["chunks"],
                    ing["ingest_s"],
                    ing["ingest_papers_per_s"],
                    ing["floor_papers_per_s"],
                    ing["ingest_vs_floor"],
                    ing.get("write_path_import_s"),
                    ing["reingest_s"],
                    ing["reingest_share"],
                    ing["vmhwm_mb"],
                ),
            ),
            str(ing["loadavg"]["end"][0]),
        )
        console.print(t)
    rows = [
        (f"{label} embedded", e.get("query"), e.get("build"))
        for label, e in results["sizes"].items()
    ]
    rows += [(f"{label} server", q, None) for label, q in results.get("server", {}).items()]
    t = Table(title="Warm queries (ms), cold load and peak RSS per size")
    t.add_column("figure")
    for name, _, _ in rows:
        t.add_column(name, justify="right")

    def cell(q: dict[str, Any] | None, b: dict[str, Any] | None, key: str) -> str:
        if not q or "error" in q:
            return "error" if key == "papers" else "—"
        lat = q["latency"]
        if key.startswith("lat:"):
            _, name, stat = key.split(":")
            return _fmt(lat[name][stat]) if name in lat else "—"
        if key.startswith("build:"):
            return _fmt(b.get(key[6:])) if b else "—"
        if key == "load":
            return str(q["loadavg"]["start"][0]) + " / " + str(q["loadavg"]["end"][0])
        return _fmt(q.get(key))

    figures = [
        ("papers", "papers"),
        ("chunks", "chunks"),
        ("PaperChat() cold load s (catalog)", "cold_load_s"),
        ("cold load without a catalog s", "fallback_load_s"),
        ("catalog file MB", "catalog_mb"),
        ("first query s (model load)", "first_query_s"),
        ("questions", "questions"),
        ("embed_query p50 (model floor)", "lat:embed_query:p50_ms"),
        ("search p50", "lat:search:p50_ms"),
        ("search p95", "lat:search:p95_ms"),
        ("ask (extractive) p50", "lat:ask:p50_ms"),
        ("ask (extractive) p95", "lat:ask:p95_ms"),
        ("search author-filtered p50", "lat:search_author:p50_ms"),
        ("search author-filtered p95", "lat:search_author:p95_ms"),
        ("search source-filtered p95", "lat:search_source:p95_ms"),
        ("search year-filtered p95", "lat:search_year:p95_ms"),
        ("query process peak RSS MB", "vmhwm_mb"),
        ("no-catalog load peak RSS MB", "fallback_vmhwm_mb"),
        ("synthetic build s", "build:build_s"),
        ("synthetic build peak RSS MB", "build:vmhwm_mb"),
        ("load avg (1 min) start / end", "load"),
    ]
    for title, key in figures:
        t.add_row(title, *(cell(q, b, key) for _, q, b in rows))
    console.print(t)
    cold = results.get("cold")
    if cold:
        t = Table(title=f"Cold start, fresh process, median of {cold['repeats']} (s)")
        for col in ("command", "median s", "torch imported", "chromadb imported"):
            t.add_column(col)
        for name, c in cold.items():
            if isinstance(c, dict) and "median_s" in c:
                imp = c.get("imports") or {}
                t.add_row(
                    name, _fmt(c["median_s"]), _fmt(imp.get("torch")), _fmt(imp.get("chromadb"))
                )
        console.print(t)
    t = Table(title="Targets")
    for col in ("target", "value", "goal", "result"):
        t.add_column(col)
    for row in results["targets"]:
        verdict = {True: "[green]pass[/green]", False: "[red]FAIL[/red]", None: "not measured"}[
            row["pass"]
        ]
        t.add_row(row["target"], _fmt(row["value"]), row["goal"], verdict)
    console.print(t)
    console.print(f"[dim]{results['meta']['approximation']}[/dim]")


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run the benchmarks, print the tables."""
    ap = argparse.ArgumentParser(prog="python -m lab.bench", description=__doc__)
    ap.add_argument(
        "--sizes",
        default="seed,10k,100k",
        help="comma list: seed and/or synthetic sizes such as 10k, 100k, 200",
    )
    ap.add_argument("--out", type=Path, default=Path("eval/out/bench"))
    ap.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE, help="where seed sentence vectors are cached"
    )
    ap.add_argument(
        "--server-sizes",
        default="seed",
        help="sizes also benchmarked against a `chroma run` server ('' for none)",
    )
    ap.add_argument(
        "--questions",
        type=int,
        default=None,
        help="cap on questions per size (default: all at seed/<10k)",
    )
    ap.add_argument(
        "--large-questions", type=int, default=60, help="questions per size at >= 10k papers"
    )
    ap.add_argument("--repeats", type=int, default=1, help="passes over the questions")
    ap.add_argument("--cold-repeats", type=int, default=3)
    ap.add_argument("--skip", default="", help="comma list of: ingest, server, cold")
    ap.add_argument(
        "--sentence-limit",
        type=int,
        default=None,
        help="use only the first N seed sentences (tests)",
    )
    ap.add_argument(
        "--ingest-corpus",
        type=Path,
        action="append",
        default=None,
        help="corpus for the ingest benchmark and the seed index (default: seeds)",
    )
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="reuse synthetic collections an earlier run built in --out",
    )
    ap.add_argument(
        "--render", type=Path, default=None, help="only print the tables of an earlier bench.json"
    )
    a = ap.parse_args(argv)
    if a.render:
        render(json.loads(a.render.read_text()))
        return
    sizes = [parse_size(s) for s in a.sizes.split(",") if s.strip()]
    server_sizes = [parse_size(s) for s in a.server_sizes.split(",") if s.strip()]
    results = run_bench(
        sizes,
        a.out,
        cache_dir=a.cache,
        max_questions=a.questions,
        large_questions=a.large_questions,
        repeats=a.repeats,
        server_sizes=[s for s in server_sizes if size_label(s) in map(size_label, sizes)],
        skip={s.strip() for s in a.skip.split(",") if s.strip()},
        sentence_limit=a.sentence_limit,
        ingest_corpus=a.ingest_corpus,
        cold_repeats=a.cold_repeats,
        reuse=a.reuse,
    )
    render(results)
    print(f"wrote {a.out / 'bench.json'}")


if __name__ == "__main__":
    main()
