"""Load check of the OpenAI-compatible API: N concurrent streaming clients on the seed collection.

Starts `paperchat api` on a free loopback port over an index of the seed files (built into a
temporary data folder unless --data-dir names one), then runs `--clients` threads, each sending
`--requests` streaming chat completions with the `openai` client, and prints errors, time to
first content and total time per request (p50/p95). Loopback only; bounded in count and time.

    python -m lab.api_load                 # 20 clients x 3 requests
    python -m lab.api_load --json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "How does STeCa calibrate trajectories?",
    "Which papers shorten chain-of-thought reasoning, and how?",
    "What is TokenSkip?",
    "How do language models plan?",
    "Which papers study in-context learning?",
]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def _client(url: str, n: int, idx: int, out: list[dict[str, Any]], deadline: float) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=url, api_key="load", max_retries=0, timeout=300)
    for i in range(n):
        if time.monotonic() > deadline:
            out.append({"error": "deadline"})
            return
        question = QUESTIONS[(idx + i) % len(QUESTIONS)]
        start = time.perf_counter()
        first = None
        text = ""
        try:
            stream = client.chat.completions.create(
                model="paperchat", messages=[{"role": "user", "content": question}], stream=True
            )
            for chunk in stream:
                piece = chunk.choices[0].delta.content if chunk.choices else None
                if piece and first is None:
                    first = time.perf_counter() - start
                text += piece or ""
            ok = "[1]" in text or "abstain" in text.lower() or bool(text)
            out.append(
                {"total": time.perf_counter() - start, "first": first or 0.0, "ok": ok}
                if ok
                else {"error": "empty answer"}
            )
        except Exception as exc:  # counted, never raised: the check reports errors
            out.append({"error": f"{type(exc).__name__}: {exc}"})


def main() -> None:
    """Run the check and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=3, help="requests per client")
    parser.add_argument("--data-dir", type=Path, help="an existing index (default: build one)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds for the whole run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    exe = str(Path(sys.executable).with_name("paperchat"))
    tmp = tempfile.TemporaryDirectory(prefix="paperchat-load-")
    data = args.data_dir or Path(tmp.name) / "data"
    env = {**os.environ, "PAPERCHAT_DATA_DIR": str(data)}
    if args.data_dir is None:
        subprocess.run([exe, "demo"], env=env, check=True, capture_output=True, cwd=tmp.name)
    port = _port()
    server = subprocess.Popen(
        [exe, "api", "--port", str(port)], env=env, cwd=tmp.name, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        from openai import OpenAI

        probe = OpenAI(base_url=url, api_key="load", max_retries=0)
        for _ in range(240):
            try:
                probe.models.list()
                break
            except Exception:
                time.sleep(0.5)
        probe.chat.completions.create(  # warm: the first answer loads the index
            model="paperchat", messages=[{"role": "user", "content": QUESTIONS[0]}]
        )
        results: list[dict[str, Any]] = []
        deadline = time.monotonic() + args.timeout
        threads = [
            threading.Thread(target=_client, args=(url, args.requests, i, results, deadline))
            for i in range(args.clients)
        ]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join(args.timeout)
        wall = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(30)
        tmp.cleanup()
    done = [r for r in results if "total" in r]
    errors = [r["error"] for r in results if "error" in r]
    totals, firsts = [r["total"] for r in done], [r["first"] for r in done]
    report = {
        "clients": args.clients,
        "requests": args.clients * args.requests,
        "completed": len(done),
        "errors": len(errors),
        "error_samples": errors[:3],
        "wall_s": round(wall, 1),
        "throughput_rps": round(len(done) / wall, 2) if wall else 0.0,
        "total_p50_s": round(statistics.median(totals), 2) if totals else None,
        "total_p95_s": round(_percentile(totals, 0.95), 2) if totals else None,
        "first_content_p50_s": round(statistics.median(firsts), 2) if firsts else None,
        "first_content_p95_s": round(_percentile(firsts, 0.95), 2) if firsts else None,
        "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key:>20}: {value}")


if __name__ == "__main__":
    main()
