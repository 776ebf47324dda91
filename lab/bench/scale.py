"""`python -m lab.bench.scale --n 1000000 --work DIR`: paperchat at a million abstracts.

A `chroma run` server holds the collection, as it would at this size. Phases (each resumable,
each a fresh process where it measures one):

- `write`: synthetic papers (see `lab.bench.synth`) written with the real write path
  (`chunk_paper`, `paper_metadata`, `add_chunks`) in batches, with each batch's papers and
  chunk texts appended to `rows.jsonl`; a checkpoint after every batch, so a killed run
  resumes where it stopped.
- `catalog`: the catalog written from the same deterministic papers (not read back over HTTP),
  then the collection stamped with the catalog's generation, as `rag.index.writer` does.
- `query`: in a fresh process, `PaperChat()` cold load, the query process's peak RSS, and
  search p50 / p95 with and without author / source / year filters (`lab.bench.worker`).
- `readback`: a client with no current catalog reads the collection back from the server
  and writes one (time, peak RSS).

Authors here recombine seed first names and surnames (`names="mixed"`), so the collection has
tens of thousands of distinct authors rather than the few hundred of the seeds.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lab.bench.run import DEFAULT_CACHE, loadavg, worker
from lab.bench.synth import ROOT

PORT = 8310


def _settings(work: Path, port: int) -> Any:
    from lab.bench.measure import settings_for

    return settings_for({"data_dir": str(work / "client"), "chroma_port": port})


@dataclass
class _Synthetic:
    """What the phases that make synthetic papers share."""

    settings: Any
    embedder: Any
    pool: Any
    count: Callable[[str], int]

    def chunked(self, n: int, start: int = 0) -> Iterator[tuple[Any, list[str]]]:
        """Synthetic papers start..n with their chunk texts (those before are made, not chunked)."""
        from lab.bench.synth import synthetic_papers
        from rag.corpus.chunking import chunk_paper

        tokens = self.settings.chunk_tokens
        papers = synthetic_papers(self.pool, n, names="mixed")
        for paper, _ in itertools.islice(papers, start, None):
            yield paper, [c.text for c in chunk_paper(paper, tokens, self.count)]


def _synthetic(args: dict[str, Any]) -> _Synthetic:
    """Settings, embedder, seed pool and the tokenizer's count, remembered: synthetic papers
    reuse the same seed sentences and title parts, so chunking a million of them counts the
    same few thousand strings."""
    from lab.bench.synth import seed_pool
    from rag.embed import make_embedder

    settings = _settings(Path(args["work"]), int(args["port"]))
    emb = make_embedder(settings.embed_model, settings.embed_batch_size)
    count = functools.lru_cache(maxsize=1 << 18)(emb.count_tokens)
    return _Synthetic(settings, emb, seed_pool(emb.count_tokens), count)


def _row_line(paper: Any, texts: list[str]) -> bytes:
    """A line of rows.jsonl: the paper's fields and its chunk texts (read by `catalog`)."""
    return json.dumps([asdict(paper), texts]).encode() + b"\n"


def server_up(port: int) -> bool:
    """Whether a Chroma server answers its heartbeat on this port."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2):
            return True
    except OSError:
        return False


def start_server(work: Path, port: int) -> subprocess.Popen[bytes]:
    """Start `chroma run` on the work folder's data and wait for its heartbeat."""
    chroma = Path(sys.executable).with_name("chroma")
    log = (work / "server.log").open("ab")
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(work / "server"), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    for _ in range(600):
        if server_up(port):
            return proc
        if proc.poll() is not None:
            raise RuntimeError(f"chroma run exited ({proc.returncode}); see {work}/server.log")
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("chroma run did not answer within 300 s")


def phase_write(args: dict[str, Any]) -> dict[str, Any]:
    """Write n synthetic papers into the server's collection, resuming from the checkpoint."""
    from lab.bench.synth import sentence_vectors, write_papers
    from rag.embed.base import index_identity
    from rag.index.store import PENDING, open_collection, set_generation

    work, n = Path(args["work"]), int(args["n"])
    synth = _synthetic(args)
    settings = synth.settings
    vectors, _ = sentence_vectors(
        synth.pool,
        Path(args["cache_dir"]),
        index_identity(settings.embed_model),
        synth.embedder.embed_documents,
    )
    checkpoint, rows_path = work / "written.json", work / "rows.jsonl"
    state = json.loads(checkpoint.read_text()) if checkpoint.exists() else {}
    done = int(state.get("papers", 0))
    collection = open_collection(settings, create=True)
    if not done:
        set_generation(collection, PENDING + uuid.uuid4().hex)
    rows_file = rows_path.open("ab")
    rows_file.truncate(int(state.get("rows_bytes", 0)))  # drop rows of an unsaved batch
    rows_file.seek(0, os.SEEK_END)
    t0 = time.perf_counter()

    def saved(papers: int, chunks: int, rows: list[tuple[Any, list[str]]]) -> None:
        for paper, texts in rows:
            rows_file.write(_row_line(paper, texts))
        rows_file.flush()
        state = {"papers": papers, "chunks": chunks, "rows_bytes": rows_file.tell()}
        checkpoint.write_text(json.dumps(state))
        rate = (papers - done) / max(time.perf_counter() - t0, 1e-9)
        eta = (n - papers) / rate if rate else float("nan")
        print(
            f"{papers:,} papers, {chunks:,} chunks, {rate:,.0f} papers/s, "
            f"ETA {eta / 60:,.1f} min, load {loadavg()[0]}",
            file=sys.stderr,
            flush=True,
        )

    info = write_papers(
        collection,
        synth.pool,
        vectors,
        n,
        synth.count,
        settings.chunk_tokens,
        skip=done,
        names="mixed",
        on_batch=saved,
    )
    rows_file.close()
    return info | {"resumed_from": done, "stored_chunks": collection.count()}


def phase_catalog(args: dict[str, Any]) -> dict[str, Any]:
    """Write the catalog of the written papers and stamp the collection with it."""
    from lab.bench.measure import catalog_mb
    from rag.index import catalog
    from rag.index.store import Identity, open_collection, set_generation
    from rag.records import Paper

    work = Path(args["work"])
    settings = _settings(work, int(args["port"]))
    collection = open_collection(settings) if args.get("server", True) else None
    wanted = Identity.from_settings(settings)
    t0 = time.perf_counter()
    rows: list[tuple[int, int]] = []  # (paper id, byte offset) of every line of rows.jsonl
    with (work / "rows.jsonl").open("rb") as f:
        offset = 0
        for line in f:
            rows.append((int(line[9:25], 16), offset))  # '[{"id": "<16 hex>"', see phase_write
            offset += len(line)
    rows.sort()
    read_s = time.perf_counter() - t0

    def papers() -> Any:
        with (work / "rows.jsonl").open("rb") as f:
            for n, (_, offset) in enumerate(rows):
                f.seek(offset)
                fields, texts = json.loads(f.readline())
                fields["authors"] = tuple(fields["authors"])
                fields["sources"] = tuple(fields["sources"])
                fields["source_ids"] = tuple(fields["source_ids"])
                if n and n % 100_000 == 0:
                    print(
                        f"catalog: {n:,} papers, {time.perf_counter() - t0:,.0f} s, "
                        f"load {loadavg()[0]}",
                        file=sys.stderr,
                        flush=True,
                    )
                yield Paper(**fields), texts

    stamp = uuid.uuid4().hex
    path = catalog.path_for(settings)
    pointer = catalog.write_rows(
        papers(),
        path,
        stamp,
        wanted.embedder,
        wanted.chunking,
        collection.count() if collection is not None else 0,
    )
    catalog.publish(pointer, path)
    if collection is not None:
        set_generation(collection, stamp)
    return {
        "papers": len(rows),
        "sort_s": round(read_s, 1),
        "catalog_s": round(time.perf_counter() - t0, 1),
        "catalog_mb": catalog_mb(path),
        "stamp": stamp,
    }


def phase_readback(args: dict[str, Any]) -> dict[str, Any]:
    """Time a machine that has no current catalog: read the collection back from the server
    and write its catalog (streamed, `catalog.from_collection`), then open it.

    What a second client of a shared server does on its first start, and what an ingest
    that changed more than `rag.index.writer.DELTA_LIMIT` papers does at its end. The catalog is
    written beside the work folder's and discarded.
    """
    from rag.index import catalog
    from rag.index.store import generation, open_collection

    work = Path(args["work"])
    collection = open_collection(_settings(work, int(args["port"])))
    t = time.perf_counter()
    pointer = catalog.from_collection(
        collection, generation(collection), work / "readback" / "catalog.json"
    )
    written_s = time.perf_counter() - t
    try:
        found = catalog.read(pointer)
        assert found is not None
        return {
            "papers": len(found.papers),
            "chunks": collection.count(),
            "readback_s": round(written_s, 1),
        }
    finally:
        catalog.discard(pointer)


def phase_rows(args: dict[str, Any]) -> dict[str, Any]:
    """Write `rows.jsonl` for n synthetic papers without a Chroma collection.

    For `catalog` + `lexical` at a size whose Chroma write does not fit the time at hand.
    """
    work, n = Path(args["work"]), int(args["n"])
    synth = _synthetic(args)
    t0 = time.perf_counter()
    chunks = 0
    with (work / "rows.jsonl").open("wb") as f:
        for i, (paper, texts) in enumerate(synth.chunked(n), 1):
            chunks += len(texts)
            f.write(_row_line(paper, texts))
            if i % 50_000 == 0:
                print(
                    f"rows: {i:,} papers, {time.perf_counter() - t0:,.0f} s, load {loadavg()[0]}",
                    file=sys.stderr,
                    flush=True,
                )
    return {"papers": n, "chunks": chunks, "rows_s": round(time.perf_counter() - t0, 1)}


def phase_lexical(args: dict[str, Any]) -> dict[str, Any]:
    """Open the catalog cold and time lexical search with and without filters (no Chroma).

    What the query process holds and does for a collection of this size apart from the
    dense side (which the Chroma server answers).
    """
    from lab.bench.measure import filter_values, summary, vmhwm_mb
    from rag.index import catalog
    from rag.retrieval.retrieve import Filters, Retriever

    work = Path(args["work"])
    settings = _settings(work, int(args["port"]))
    questions = [
        json.loads(x)["question"]
        for x in (ROOT / "eval" / "questions.jsonl").read_text().splitlines()
    ][: int(args.get("questions", 60))]
    t = time.perf_counter()
    found = catalog.read(catalog.path_for(settings))
    assert found is not None, "no catalog: run the catalog phase first"
    retriever = Retriever.__new__(Retriever)
    retriever._use(found)
    open_s = time.perf_counter() - t
    rss_open = vmhwm_mb()
    values = filter_values(retriever)
    filters = {
        "none": None,
        "author": Filters(author=values["author"]),
        "source": Filters(source=values["source"]),
        "year": Filters(year_min=values["year_min"]),
    }
    times: dict[str, list[float]] = {name: [] for name in filters}
    first: dict[str, float] = {}
    for _ in range(int(args.get("repeats", 2))):
        for q in questions:
            for name, f in filters.items():
                t = time.perf_counter()
                retriever.search(q, 5, filters=f, mode="lexical")
                ms = (time.perf_counter() - t) * 1000
                first.setdefault(name, ms)
                times[name].append(ms)
    return {
        "papers": len(found.papers),
        "chunks": retriever.n_chunks,
        "open_s": round(open_s, 3),
        "rss_after_open_mb": rss_open,
        "first_search_ms": {k: round(v, 1) for k, v in first.items()},
        "latency_ms": {name: summary(v) for name, v in times.items()},
        "filters": values,
        "questions": len(questions),
    }


def phase_update(args: dict[str, Any]) -> dict[str, Any]:
    """Time the catalog's share of adding 100 papers to the index: update and write it.

    The papers are the next 100 synthetic ones; their embedding and Chroma write are what
    any ingest of 100 papers costs and are not part of this figure. The result is written
    beside the current catalog and discarded, so the phase can be repeated.
    """
    from rag.index import catalog

    n, add = int(args["n"]), int(args.get("add", 100))
    synth = _synthetic(args)
    settings = synth.settings
    new = list(synth.chunked(n + add, start=n))
    path = catalog.path_for(settings)
    t = time.perf_counter()
    base = catalog.read(path)
    assert base is not None, "no catalog: run the catalog phase first"
    read_s = time.perf_counter() - t
    t = time.perf_counter()
    built = catalog.updated(base, "update-bench", base.stored_chunks, set(), list(new))
    assert built is not None and len(built.papers) == len(base.papers) + add
    update_s = time.perf_counter() - t
    t = time.perf_counter()
    pointer = catalog.write(built, path)
    write_s = time.perf_counter() - t
    catalog.discard(pointer)
    return {
        "papers_before": len(base.papers),
        "added": add,
        "read_s": round(read_s, 2),
        "update_s": round(update_s, 2),
        "write_s": round(write_s, 2),
        "total_s": round(read_s + update_s + write_s, 2),
    }


PHASES = {
    "write": phase_write,
    "update": phase_update,
    "rows": phase_rows,
    "catalog": phase_catalog,
    "lexical": phase_lexical,
    "readback": phase_readback,
}


def main() -> None:
    """Run the phases asked for, starting the Chroma server when it is not running."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="synthetic papers")
    ap.add_argument("--work", type=Path, required=True, help="folder for server data, checkpoints")
    ap.add_argument("--port", type=int, default=PORT)
    ap.add_argument("--phases", default="write,catalog,query")
    ap.add_argument("--questions", type=int, default=60, help="dev questions timed per mode")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, help="write the figures here as JSON")
    ap.add_argument(
        "--no-server",
        action="store_true",
        help="no Chroma: for the rows, catalog (unstamped) and lexical phases",
    )
    opts = ap.parse_args()
    work = opts.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    proc = None if opts.no_server or server_up(opts.port) else start_server(work, opts.port)
    results: dict[str, Any] = {"n": opts.n, "loadavg_start": loadavg()}
    try:
        base = {
            "work": str(work),
            "n": opts.n,
            "port": opts.port,
            "cache_dir": str(DEFAULT_CACHE),
            "server": not opts.no_server,
            "questions": opts.questions,
            "repeats": opts.repeats,
        }
        for phase in opts.phases.split(","):
            print(f"{phase} (load {loadavg()})", file=sys.stderr, flush=True)
            if phase == "query":
                results[phase] = worker(
                    "query",
                    {
                        "data_dir": str(work / "client"),
                        "chroma_port": opts.port,
                        "questions": str(ROOT / "eval" / "questions.jsonl"),
                        "max_questions": opts.questions,
                        "repeats": opts.repeats,
                    },
                    timeout=4 * 3600,
                )
            else:
                results[phase] = worker("scale_" + phase, base, timeout=12 * 3600, live=True)
            print(json.dumps(results[phase]), file=sys.stderr, flush=True)
        if proc is not None:
            from lab.bench.run import _rss_mb

            results["server_rss_mb"] = _rss_mb(proc.pid)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=60)
    results["loadavg_end"] = loadavg()
    text = json.dumps(results, indent=2)
    if opts.out:
        opts.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
