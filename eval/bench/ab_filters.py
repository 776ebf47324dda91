"""A/B of the filter change at scale: the original `Retriever.search` (Filters.allows per paper,
read from a saved copy of rag/retrieve.py) against the current one, on one loaded index, with
identical inputs, interleaved. Checks both return the same hits.

    python -m eval.bench.ab_filters DATA_DIR ORIGINAL_RETRIEVE_PY [--questions N] [--out JSON]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from eval.bench.run import QUESTIONS
from eval.bench.worker import _filter_values, settings_for, summary, vmhwm_mb


def main() -> None:
    """Run the A/B and print (and optionally write) the JSON result."""
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir")
    ap.add_argument("original")
    ap.add_argument("--questions", type=int, default=40)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    from rag.pipeline import PaperChat

    spec = importlib.util.spec_from_file_location("retrieve_original", a.original)
    assert spec and spec.loader
    old = importlib.util.module_from_spec(spec)
    sys.modules["retrieve_original"] = old
    spec.loader.exec_module(old)
    load0 = os.getloadavg()
    t = time.perf_counter()
    session = PaperChat(settings_for({"data_dir": a.data_dir}))
    cold = time.perf_counter() - t
    r = session.retriever
    questions = [json.loads(x)["question"] for x in QUESTIONS.open()][: a.questions]
    vectors = {q: session.embedder.embed_query(q) for q in questions}
    r.embedder = type("Cached", (), {"embed_query": staticmethod(vectors.__getitem__)})()
    values = _filter_values(r)
    cases = {
        "none": ({}, None),
        "author": ({"author": values["author"]}, None),
        "source": ({"source": values["source"]}, None),
        "year": ({"year_min": values["year_min"]}, None),
    }
    from rag.retrieve import Filters

    times: dict[str, list[float]] = {}
    mismatches = 0
    for kw, _ in cases.values():  # warm-up, builds the lazy filter index
        r.search(questions[0], 5, Filters(**kw) if kw else None)
    for q in questions:
        for name, (kw, _) in cases.items():
            t = time.perf_counter()
            before = old.Retriever.search(r, q, 5, old.Filters(**kw) if kw else None)
            times.setdefault(f"original_{name}", []).append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            after = r.search(q, 5, Filters(**kw) if kw else None)
            times.setdefault(f"current_{name}", []).append((time.perf_counter() - t) * 1000)
            same = before.hits == after.hits and before.relevance == after.relevance
            mismatches += not same
    result = {
        "data_dir": a.data_dir,
        "papers": len(r.papers),
        "chunks": len(r.chunks),
        "cold_load_s": round(cold, 2),
        "note": "query vectors precomputed: retrieval cost only, no model time",
        "filters": values,
        "latency": {k: summary(v) for k, v in times.items()},
        "p95_ratio_filtered_over_unfiltered": {
            f"{side}_{name}": round(
                float(np.percentile(times[f"{side}_{name}"], 95))
                / float(np.percentile(times[f"{side}_none"], 95)),
                2,
            )
            for side in ("original", "current")
            for name in ("author", "source", "year")
        },
        "identical_results": mismatches == 0,
        "mismatches": mismatches,
        "vmhwm_mb": vmhwm_mb(),
        "loadavg": {
            "start": [round(x, 2) for x in load0],
            "end": [round(x, 2) for x in os.getloadavg()],
        },
    }
    text = json.dumps(result, indent=2)
    print(text)
    if a.out:
        a.out.write_text(text)


if __name__ == "__main__":
    main()
