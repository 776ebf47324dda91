"""What the benchmark workers share: settings, peak memory, latency summaries, filter values."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import numpy as np


def vmhwm_mb() -> float:
    """Peak resident set size of this process (VmHWM: the kernel's ru_maxrss, in kB on Linux)."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def settings_for(args: dict[str, Any]) -> Any:
    """Settings for a data dir or a Chroma server, ignoring any .env file."""
    from rag.config import Settings

    extra: dict[str, Any] = {"backend": "extractive"}
    if args.get("chroma_port"):
        extra.update(chroma_host="127.0.0.1", chroma_port=int(args["chroma_port"]))
    return Settings(_env_file=None, data_dir=Path(args["data_dir"]), **extra)  # type: ignore[call-arg]


def pct(values: list[float], q: float) -> float:
    """Percentile (linear interpolation) in ms, rounded."""
    return round(float(np.percentile(values, q)), 2) if values else float("nan")


def summary(values_ms: list[float]) -> dict[str, Any]:
    """p50 / p95 / mean / n of a latency list."""
    return {
        "p50_ms": pct(values_ms, 50),
        "p95_ms": pct(values_ms, 95),
        "mean_ms": round(statistics.fmean(values_ms), 2) if values_ms else float("nan"),
        "n": len(values_ms),
    }


def filter_values(retriever: Any) -> dict[str, Any]:
    """Pick filter values deterministically: the most prolific author, a common source, a year.

    Read from the catalog's postings, so picking them decodes no paper (at a million papers
    that would dominate the query process's memory).
    """
    index = retriever.index
    author = source = year = None
    if index.author_keys:
        sizes = np.diff(np.asarray(index.author_ptr))
        author = index.author_names[int(np.argmax(sizes))]  # first of the largest: sorted keys
    if index.sources:
        source = index.sources[int(np.argmax(np.diff(np.asarray(index.source_ptr))))]
    years = np.sort(np.asarray(index.years)[np.asarray(index.years) != 0])
    if len(years):
        year = int(years[len(years) // 2])
    return {"author": author, "source": source, "year_min": year}


def catalog_mb(path: Path) -> float | None:
    """Size on disk of the catalog a pointer file names (None without one)."""
    from rag.index import catalog

    folder = catalog.current_folder(path)
    if folder is None or not folder.is_dir():
        return None
    return round(sum(f.stat().st_size for f in folder.iterdir()) / 2**20, 1)
