"""Orchestrate the benchmark steps (each heavy one in a worker subprocess) and judge targets."""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab.bench import APPROXIMATION
from lab.bench.synth import ROOT, SEEDS

PY = sys.executable
QUESTIONS = ROOT / "eval" / "questions.jsonl"
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "paperchat-bench-cache"
MODEL = "bundled:all-MiniLM-L6-v2"
Log = Callable[[str], None]

TARGETS = {
    "search_p50_seed_ms": 30.0,
    "ask_p50_seed_ms": 60.0,
    "search_p95_100k_ms": 150.0,
    "reingest_share": 0.05,
    "ingest_vs_floor": 0.90,
    "light_cli_s": 1.0,
    "ask_cold_over_floor_s": 1.5,
    "filtered_over_unfiltered_p95": 2.0,
}


class BenchError(RuntimeError):
    """A benchmark step failed."""


def parse_size(text: str) -> int | str:
    """'seed' stays 'seed'; '10k' -> 10000, '1m' -> 1000000, '200' -> 200."""
    t = text.strip().lower()
    if t == "seed":
        return "seed"
    mult = {"k": 1000, "m": 1_000_000}.get(t[-1:], 1)
    return int(float(t[:-1] if mult > 1 else t) * mult)


def size_label(size: int | str) -> str:
    """The label a size is reported under."""
    if size == "seed":
        return "seed"
    n = int(size)
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def loadavg() -> list[float]:
    """The 1/5/15-minute load averages now."""
    return [round(x, 2) for x in os.getloadavg()]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERCHAT_", "CHROMA_"))}
    env.pop("OPENAI_API_KEY", None)
    env.pop("OPENAI_BASE_URL", None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def worker(
    task: str, args: dict[str, Any], timeout: float = 7200, live: bool = False
) -> dict[str, Any]:
    """Run one worker task in a fresh interpreter and return its JSON result.

    `live` passes the worker's stderr (its progress lines) through instead of keeping it.
    """
    t = time.perf_counter()
    proc = subprocess.run(
        [PY, "-m", "lab.bench.worker", task, json.dumps(args)],
        stdout=subprocess.PIPE,
        stderr=None if live else subprocess.PIPE,
        text=True,
        cwd=str(ROOT),
        env=_env(),
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise BenchError(f"worker {task} failed ({proc.returncode}):\n" + "\n".join(tail))
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = round(time.perf_counter() - t, 2)
    return result


# ---------------------------------------------------------------- cold start


_PROBE = """
import atexit, json, os, sys
def _report():
    with open(os.environ["BENCH_PROBE_OUT"], "w") as f:
        json.dump({m: m in sys.modules for m in
                   ("torch", "sentence_transformers", "transformers", "chromadb",
                    "llama_index.core")}, f)
atexit.register(_report)
sys.argv = ["paperchat", *json.loads(os.environ["BENCH_PROBE_ARGS"])]
from ui.cli import main
main()
"""


def _timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int]:
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=str(cwd), capture_output=True, check=False)
    return time.perf_counter() - t, proc.returncode


def cold_start(seed_dir: Path | None, work: Path, repeats: int, log: Log) -> dict[str, Any]:
    """Wall time of CLI commands in fresh processes, and which heavy modules they import."""
    env = _env()
    env["PAPERCHAT_BACKEND"] = "extractive"
    if seed_dir:
        env["PAPERCHAT_DATA_DIR"] = str(seed_dir)
    cli = str(Path(PY).with_name("paperchat"))
    question = "Which papers shorten chain-of-thought reasoning?"
    commands: dict[str, list[str]] = {
        "import_floor": [PY, "-c", "import torch, sentence_transformers"],
        "python_floor": [PY, "-c", "pass"],
        "help": [cli, "--help"],
    }
    if seed_dir:
        commands |= {
            "papers": [cli, "papers"],
            "stats": [cli, "stats"],
            "ask": [cli, "ask", question],
        }
    work.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"repeats": repeats, "loadavg_start": loadavg()}
    for name, cmd in commands.items():
        _timed(cmd, env, work)  # page cache warm-up, not counted
        runs = []
        for _ in range(repeats):
            seconds, rc = _timed(cmd, env, work)
            runs.append(seconds)
        out[name] = {
            "median_s": round(statistics.median(runs), 3),
            "runs_s": [round(r, 3) for r in runs],
            "exit_code": rc,
        }
        log(f"cold {name}: {out[name]['median_s']} s")
    for name in ("help", "papers", "stats", "ask"):
        if name not in commands:
            continue
        probe_out = work / f"probe-{name}.json"
        penv = env | {
            "BENCH_PROBE_OUT": str(probe_out),
            "BENCH_PROBE_ARGS": json.dumps(commands[name][1:]),
        }
        subprocess.run(
            [PY, "-c", _PROBE], env=penv, cwd=str(work), capture_output=True, check=False
        )
        out[name]["imports"] = json.loads(probe_out.read_text()) if probe_out.exists() else None
    out["loadavg_end"] = loadavg()
    return out


# ---------------------------------------------------------------- chroma server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_query(
    data_dir: Path, work: Path, query_args: dict[str, Any], log: Log
) -> dict[str, Any]:
    """Copy a collection into a fresh `chroma run` server and run the query benchmark on it."""
    exe = shutil.which("chroma", path=str(Path(PY).parent)) or shutil.which("chroma")
    if not exe:
        raise BenchError("no `chroma` executable next to python")
    port = _free_port()
    path = work / "server"
    shutil.rmtree(path, ignore_errors=True)
    proc = subprocess.Popen(
        [exe, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise BenchError("chroma server did not start") from None
                time.sleep(0.3)
        copy = worker("copy", {"data_dir": str(data_dir), "chroma_port": port})
        log(f"server: copied {copy['chunks']} chunks in {copy['copy_s']} s")
        result = worker("query", {**query_args, "data_dir": str(data_dir), "chroma_port": port})
        result["copy"] = copy
        result["server_rss_mb"] = _rss_mb(proc.pid)
        return result
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _rss_mb(pid: int) -> float | None:
    # /proc, not psutil: psutil reports no peak (VmHWM) of another live process, nor is it installed
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


# ---------------------------------------------------------------- machine


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    for key, cmd in (("free", ["free", "-h"]), ("lscpu", ["lscpu"])):
        try:
            text = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
            info[key] = text.strip().splitlines()[: 10 if key == "lscpu" else 3]
        except OSError:
            info[key] = None
    try:
        from importlib.metadata import version

        info["versions"] = {
            p: version(p)
            for p in ("chromadb", "sentence-transformers", "torch", "bm25s", "llama-index-core")
        }
    except Exception:  # noqa: BLE001 - informational only
        pass
    return info


# ---------------------------------------------------------------- the run


def run_bench(
    sizes: list[int | str],
    out: Path,
    cache_dir: Path = DEFAULT_CACHE,
    max_questions: int | None = None,
    large_questions: int = 60,
    repeats: int = 1,
    server_sizes: list[int | str] | None = None,
    skip: set[str] | None = None,
    sentence_limit: int | None = None,
    ingest_corpus: list[Path] | None = None,
    cold_repeats: int = 3,
    reuse: bool = False,
    log: Log = print,
) -> dict[str, Any]:
    """Run every selected benchmark, write `bench.json` into `out`, and return the results."""
    skip = skip or set()
    server_sizes = ["seed"] if server_sizes is None else server_sizes
    out.mkdir(parents=True, exist_ok=True)
    data_root = out / "data"
    results: dict[str, Any] = {
        "meta": {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": machine(),
            "approximation": APPROXIMATION,
            "sizes": [size_label(s) for s in sizes],
        },
        "loadavg": {"start": loadavg()},
        "ingest": None,
        "sizes": {},
        "server": {},
        "cold": None,
    }
    corpus = [str(p) for p in (ingest_corpus or [SEEDS])]
    seed_dir = data_root / "seed"
    want_seed = "seed" in sizes or "seed" in server_sizes
    seed_reusable = reuse and "ingest" in skip and (seed_dir / "chroma").exists()
    if seed_reusable:
        log(f"ingest: skipped, reusing the seed index in {seed_dir}")
    elif "ingest" not in skip or want_seed:
        shutil.rmtree(seed_dir, ignore_errors=True)
        log(f"ingest: {', '.join(corpus)} into a fresh {seed_dir} (load {loadavg()})")
        results["ingest"] = worker("ingest", {"data_dir": str(seed_dir), "corpus": corpus})
        log(
            f"ingest: {results['ingest']['ingest_s']} s, "
            f"floor {results['ingest']['floor_encode_s']}"
        )
    synthetic = [s for s in sizes if s != "seed"]
    if synthetic:
        log(f"sentence vectors (cache {cache_dir}, load {loadavg()})")
        results["sentences"] = worker(
            "sentences", {"cache_dir": str(cache_dir), "model": MODEL, "limit": sentence_limit}
        )
    for size in sizes:
        label = size_label(size)
        entry: dict[str, Any] = {}
        if size == "seed":
            data_dir = seed_dir
        else:
            data_dir = data_root / label
            marker = data_dir / "bench-build.json"
            spec = {"n": int(size), "limit": sentence_limit}
            if reuse and marker.exists() and json.loads(marker.read_text())["spec"] == spec:
                entry["build"] = json.loads(marker.read_text())["build"] | {"reused": True}
                log(f"{label}: reusing the synthetic collection in {data_dir}")
            else:
                shutil.rmtree(data_dir, ignore_errors=True)
                log(f"{label}: building synthetic collection (load {loadavg()})")
                entry["build"] = worker(
                    "build",
                    {
                        "data_dir": str(data_dir),
                        "n": int(size),
                        "cache_dir": str(cache_dir),
                        "limit": sentence_limit,
                    },
                )
                marker.write_text(json.dumps({"spec": spec, "build": entry["build"]}))
            log(f"{label}: {entry['build']['chunks']} chunks in {entry['build']['build_s']} s")
        mq = max_questions if size == "seed" or int(size) < 10_000 else large_questions
        if max_questions is not None:
            mq = min(mq or max_questions, max_questions)
        qargs = {"questions": str(QUESTIONS), "max_questions": mq, "repeats": repeats}
        log(f"{label}: query benchmark (load {loadavg()})")
        entry["query"] = worker("query", {**qargs, "data_dir": str(data_dir)})
        lat = entry["query"]["latency"]
        log(f"{label}: cold load from the catalog {entry['query']['cold_load_s']} s")
        fallback = worker("fallback", {"data_dir": str(data_dir)})
        entry["query"]["fallback_load_s"] = fallback["fallback_load_s"]
        entry["query"]["fallback_vmhwm_mb"] = fallback["vmhwm_mb"]
        entry["query"]["catalog_mb"] = fallback["catalog_mb"]
        log(f"{label}: cold load without a catalog {fallback['fallback_load_s']} s")
        log(f"{label}: search p50 {lat['search']['p50_ms']} ms, ask p50 {lat['ask']['p50_ms']} ms")
        if size in server_sizes and "server" not in skip:
            log(f"{label}: chroma server query benchmark (load {loadavg()})")
            try:
                results["server"][label] = server_query(data_dir, out / "server", qargs, log)
            except BenchError as exc:
                results["server"][label] = {"error": str(exc)}
        results["sizes"][label] = entry
    if "cold" not in skip:
        log(f"cold start (load {loadavg()})")
        results["cold"] = cold_start(
            seed_dir if (seed_dir / "chroma").exists() else None, out / "cold", cold_repeats, log
        )
    results["loadavg"]["end"] = loadavg()
    results["targets"] = judge(results)
    (out / "bench.json").write_text(json.dumps(results, indent=2, default=str))
    return results


def judge(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Compare the figures with the targets; a missing figure is 'not measured'."""
    rows: list[dict[str, Any]] = []

    def add(name: str, value: float | None, target: str, ok: bool | None) -> None:
        rows.append(
            {"target": name, "value": value, "goal": target, "pass": None if value is None else ok}
        )

    seed = r["sizes"].get("seed", {}).get("query")
    if seed:
        v = seed["latency"]["search"]["p50_ms"]
        add("warm search p50, seed", v, "<= 30 ms", v <= TARGETS["search_p50_seed_ms"])
        v = seed["latency"]["ask"]["p50_ms"]
        add("warm extractive ask p50, seed", v, "<= 60 ms", v <= TARGETS["ask_p50_seed_ms"])
    big = r["sizes"].get("100k", {}).get("query")
    if big:
        v = big["latency"]["search"]["p95_ms"]
        add("warm search p95, 100k", v, "<= 150 ms", v <= TARGETS["search_p95_100k_ms"])
        base = big["latency"]["search"]["p95_ms"]
        for name in ("author", "source", "year"):
            lat = big["latency"].get(f"search_{name}")
            if lat:
                ratio = round(lat["p95_ms"] / base, 2)
                add(
                    f"{name}-filtered / unfiltered search p95, 100k",
                    ratio,
                    "<= 2x",
                    ratio <= TARGETS["filtered_over_unfiltered_p95"],
                )
    ing = r.get("ingest")
    if ing:
        add(
            "re-ingest unchanged / first ingest",
            ing["reingest_share"],
            "< 5%",
            ing["reingest_share"] < TARGETS["reingest_share"],
        )
        if "write_path_import_s" in ing:
            add(
                "ingest throughput / raw encode floor (llama-index import timed apart)",
                ing["ingest_vs_floor"],
                ">= 0.90",
                ing["ingest_vs_floor"] >= TARGETS["ingest_vs_floor"],
            )
            v = ing["ingest_incl_import_vs_floor"]
            add(
                "ingest throughput incl. llama-index import / raw encode floor",
                v,
                ">= 0.90",
                v >= TARGETS["ingest_vs_floor"],
            )
        else:
            add(
                "ingest throughput / raw encode floor",
                ing["ingest_vs_floor"],
                ">= 0.90",
                ing["ingest_vs_floor"] >= TARGETS["ingest_vs_floor"],
            )
    cold = r.get("cold")
    if cold:
        for name in ("help", "papers", "stats"):
            if name in cold:
                c = cold[name]
                torch = bool(c.get("imports") and c["imports"].get("torch"))
                ok = c["median_s"] < TARGETS["light_cli_s"] and not torch and c["exit_code"] == 0
                add(
                    f"`paperchat {name}` cold (no torch import)",
                    c["median_s"],
                    "< 1 s, torch not imported",
                    ok,
                )
        if "ask" in cold:
            over = round(cold["ask"]["median_s"] - cold["import_floor"]["median_s"], 3)
            add(
                "`paperchat ask` cold minus import floor",
                over,
                "<= 1.5 s",
                over <= TARGETS["ask_cold_over_floor_s"] and cold["ask"]["exit_code"] == 0,
            )
    return rows
