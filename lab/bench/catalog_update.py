"""Time adding papers to an existing index: incremental catalog update vs a full rebuild.

    python -m lab.bench.catalog_update DATA_DIR [--add 100]

Copies the index in DATA_DIR to a temporary folder (the original is not touched), ingests
`--add` new papers (seed abstracts, as JSONL) into the copy with the real embedder, and times
the whole ingest, the catalog update it made, and — on the same collection afterwards — the
full rebuild from Chroma that every changing ingest used to do.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _timed(module: Any, name: str, spent: dict[str, float]) -> None:
    """Wrap module.name so that its run time is added to spent[name]."""
    original = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - start

    setattr(module, name, wrapper)


def _not_the_index(data_dir: Path) -> Any:
    """copytree's ignore: the lock and the query-vector caches at the top of the data dir."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        if Path(folder) != data_dir:
            return set()
        return {n for n in names if n.endswith(".npy") or n == "ingest.lock"}

    return ignore


def run(data_dir: Path, add: int) -> dict[str, Any]:
    """Ingest `add` new papers into a copy of the index at `data_dir` and time the catalog."""
    from rag.config import Settings
    from rag.corpus.loaders import load_paths
    from rag.embed import make_embedder
    from rag.index import catalog
    from rag.index.store import generation, open_collection
    from rag.index.writer import ingest

    with tempfile.TemporaryDirectory(prefix="catalog-update-") as tmp:
        copy = Path(tmp) / "data"
        shutil.copytree(data_dir, copy, ignore=_not_the_index(data_dir))
        settings = Settings(_env_file=None, data_dir=copy)  # type: ignore[call-arg]
        original = catalog.path_for(Settings(_env_file=None, data_dir=data_dir))  # type: ignore[call-arg]
        if original.exists():  # catalogs are named after the store location: point the copy's
            shutil.copy(original, catalog.path_for(settings))  # name at the copied folder
        seeds = load_paths([ROOT / "corpus" / "seeds"]).papers[:add]
        new = Path(tmp) / "new.jsonl"
        new.write_text(
            "".join(
                json.dumps({"title": p.title, "abstract": p.abstract, "authors": p.authors}) + "\n"
                for p in seeds
            ),
            encoding="utf-8",
        )
        embedder = make_embedder(settings.embed_model, settings.embed_batch_size, settings)
        embedder.embed_query("warm up")  # the model load is not part of an ingest's cost
        before = catalog.read(catalog.path_for(settings))
        spent: dict[str, float] = {}
        _timed(catalog, "updated", spent)
        _timed(catalog, "from_collection", spent)
        _timed(catalog, "read", spent)
        _timed(catalog, "write", spent)
        start = time.perf_counter()
        report = ingest([new], settings, embedder)
        total = time.perf_counter() - start
        during = dict(spent)  # before the explicit rebuild below, which is timed on its own
        collection = open_collection(settings)
        start = time.perf_counter()
        catalog.discard(
            catalog.from_collection(collection, generation(collection), Path(tmp) / "k.json")
        )
        full = time.perf_counter() - start
    return {
        "papers_before": len(before.papers) if before else None,
        "added": report.added,
        "chunks_embedded": report.chunks_embedded,
        "ingest_s": round(total, 2),
        "catalog_read_s": round(during.get("read", 0.0), 2),
        "catalog_update_s": round(during.get("updated", 0.0), 2),
        "catalog_write_s": round(during.get("write", 0.0), 2),
        "full_rebuild_during_ingest_s": round(during.get("from_collection", 0.0), 2),
        "full_rebuild_from_chroma_s": round(full, 2),
    }


def main() -> None:
    """Print the timings as JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--add", type=int, default=100)
    args = parser.parse_args()
    print(json.dumps(run(args.data_dir, args.add), indent=2))


if __name__ == "__main__":
    main()
