"""Large inputs stream: JSON lines and arrays past the whole-file limit, bounded memory,
progress by bytes, batches deduplicated across the run, a killed ingest resumed.

`python -m tests.test_streaming SIZE_MB [DIR]` writes an arXiv-snapshot-style file of that
size and measures the read path ingest runs before embedding (docs/performance.md, "Scaling out").
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from rag.corpus.loaders import MAX_FILE_BYTES, FileStream, load_paths
from tests.conftest import make_settings
from tests.test_robustness import ROOT, _chunk_rows, _paperchat, _wait, runner

VOCABULARY = (
    "model data learning network training results method performance task language neural graph "
    "attention sparse robust efficient benchmark dataset proposed approach framework inference "
    "retrieval quantum protein signal optimisation convergence theory bounds"
)
WORDS = VOCABULARY.split()


def arxiv_record(i: int, rng: random.Random, words: int = 130) -> dict[str, Any]:
    """One record shaped like arXiv's metadata snapshot (~1.5 KB, a unique abstract)."""
    return {
        "id": f"{7 + i // 1_200_000:02d}{1 + i // 100_000 % 12:02d}.{i % 100_000:05d}",
        "submitter": "Alice Smith",
        "authors": "Alice Smith, Bo Chen and Carol Diaz",
        "title": f"On {' '.join(rng.choices(WORDS, k=6))} {i}",
        "comments": "12 pages, 3 figures",
        "journal-ref": None,
        "doi": None,
        "report-no": None,
        "categories": "cs.CL cs.LG",
        "license": None,
        "abstract": f"  We study case {i}. " + _sentences(rng, words) + "\n",
        "versions": [{"version": "v1", "created": "Mon, 2 Apr 2007 19:18:42 GMT"}],
        "update_date": "2008-11-13",
        "authors_parsed": [["Smith", "Alice", ""], ["Chen", "Bo", ""], ["Diaz", "Carol", ""]],
    }


def _sentences(rng: random.Random, words: int) -> str:
    """Prose of about `words` words in sentences of 10-20, as abstracts are written."""
    out: list[str] = []
    while sum(len(x.split()) for x in out) < words:
        out.append(" ".join(rng.choices(WORDS, k=rng.randint(10, 20))).capitalize() + ".")
    return " ".join(out)


def write_snapshot(path: Path, *, mb: float = 0, records: int = 0, words: int = 130) -> int:
    """Write arXiv-style JSON lines until `mb` megabytes or `records` records; return the count."""
    rng = random.Random(1)
    n = 0
    with path.open("w", encoding="utf-8") as handle:
        while (records and n < records) or (mb and handle.tell() < mb * 2**20):
            handle.write(json.dumps(arxiv_record(n, rng, words)) + "\n")
            n += 1
    return n


def measure(path: Path) -> dict[str, float]:
    """Read one file as ingest does before embedding: stream its drafts, keep the set of ids.

    Peak resident memory (VmHWM) beside the resident memory before reading, in MB.
    """

    def status(key: str) -> float:
        with open("/proc/self/status", encoding="ascii") as handle:
            line = next(ln for ln in handle if ln.startswith(key))
        return int(line.split()[1]) / 1024

    before = status("VmRSS")
    start = time.perf_counter()
    stream = FileStream(path)
    seen: set[str] = set()
    for draft in stream:
        seen.add(draft.to_paper(draft.key).id)
    seconds = time.perf_counter() - start
    return {
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "papers": len(seen),
        "skipped": len(stream.report.skipped),
        "seconds": round(seconds, 1),
        "mb_per_s": round(path.stat().st_size / 2**20 / seconds, 1),
        "rss_before_mb": round(before),
        "peak_rss_mb": round(status("VmHWM")),
    }


def _measured(path: Path) -> dict[str, float]:
    """`measure` in a fresh process, so the peak is this file's alone."""
    code = "import json, sys\nfrom pathlib import Path\nfrom tests.test_streaming import measure\n"
    code += "print(json.dumps(measure(Path(sys.argv[1]))))\n"
    run = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        check=True,
    )
    return dict(json.loads(run.stdout))


ABSTRACT = (
    "Sparse gardens are a new data structure for approximate nearest neighbour search. They "
    "cut memory use in half while keeping recall above 95% on standard datasets."
)


def _sparse_gap(path: Path, head: bytes, tail: bytes) -> None:
    """Write `head`, a hole of MAX_FILE_BYTES + 1 zero bytes (no disk used), then `tail`."""
    with path.open("wb") as handle:
        handle.write(head)
        handle.seek(len(head) + MAX_FILE_BYTES + 1)
        handle.write(tail)


def test_json_lines_past_the_whole_file_limit_stream(tmp_path: Path) -> None:
    first = json.dumps({"id": "a1", "title": "First", "abstract": ABSTRACT}) + "\n"
    last = json.dumps({"id": "a2", "title": "Last", "abstract": ABSTRACT + " Again."}) + "\n"
    path = tmp_path / "big.jsonl"
    _sparse_gap(path, first.encode() + b"\n" * 5000, b"\n" + last.encode())
    figures = _measured(path)
    print(f"\n{figures}")
    assert figures["papers"] == 2 and figures["skipped"] == 1  # the hole is one long line
    assert figures["peak_rss_mb"] - figures["rss_before_mb"] < 60  # the file is 200 MB
    result = load_paths([path])
    (skip,) = result.files[0].skipped
    assert skip.line == 5002 and skip.reason.startswith("line too long (209,715,")
    assert {p.title for p in result.papers} == {"First", "Last"}


def test_json_array_past_the_whole_file_limit_streams(tmp_path: Path) -> None:
    items = [
        json.dumps({"id": f"z{i}", "title": f"T{i}", "abstract": f"{ABSTRACT} Item {i}."})
        for i in range(2)
    ]
    path = tmp_path / "zotero.json"
    head = f"[\n  {items[0]},".encode() + b"\n" * 5000
    _sparse_gap(path, head, f"\n  {items[1]}\n]\n".encode())
    figures = _measured(path)
    assert figures["papers"] == 2 and figures["skipped"] == 0
    assert figures["peak_rss_mb"] - figures["rss_before_mb"] < 60
    report = load_paths([path]).files[0]
    assert report.layout == "json array" and report.error is None
    assert report.notes == ("removed 209,715,201 NUL bytes (the file looks partly corrupted)",)


def test_json_array_decoded_in_pieces_keeps_lines_and_recovers(tmp_path: Path) -> None:
    from rag.corpus.loaders import documents

    records = [{"id": f"r{i}", "title": f"R{i}", "abstract": f"{ABSTRACT} {i}."} for i in range(60)]
    text = json.dumps(records, indent=2).replace('"R7",', '"R7", oops', 1)
    path = tmp_path / "lib.json"
    path.write_text(text, "utf-8")
    whole = load_paths([path])
    documents_chunk = documents.CHUNK_CHARS
    try:
        documents.CHUNK_CHARS = 97  # every item is cut across reads
        pieces = load_paths([path])
    finally:
        documents.CHUNK_CHARS = documents_chunk
    assert len(pieces.papers) == len(whole.papers) == 59
    assert pieces.files[0].skipped == whole.files[0].skipped
    (skip,) = whole.files[0].skipped
    assert "invalid JSON in array item 8" in skip.reason
    assert text.splitlines()[skip.line - 1] == "  {"
    assert text.splitlines()[skip.line + 1].endswith('"R7", oops')


def test_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    write_snapshot(small, mb=4)
    write_snapshot(large, mb=24)
    a, b = _measured(small), _measured(large)
    print(f"\n{a}\n{b}")
    assert b["papers"] > 5 * a["papers"] and b["skipped"] == a["skipped"] == 0
    grown = b["peak_rss_mb"] - a["peak_rss_mb"]
    assert grown < 0.25 * (b["file_mb"] - a["file_mb"])  # ids kept, not records


def test_progress_follows_the_bytes_read(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    from rag.index.writer import IngestProgress, ingest

    path = tmp_path / "few.jsonl"
    write_snapshot(path, records=5, words=20)
    seen: list[IngestProgress] = []
    report = ingest([path], make_settings(tmp_path / "idx"), embedder, progress=seen.append)
    assert report.added == 5
    assert [p.bytes_read for p in seen] == sorted(p.bytes_read for p in seen)
    last = seen[-1]
    assert (last.bytes_read, last.bytes_total, last.papers) == (path.stat().st_size,) * 2 + (5,)
    assert last.chunks_embedded == report.chunks_embedded


def test_batches_dedupe_and_merge_across_the_whole_run(
    tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from rag.index import writer as index
    from rag.index.catalog import contents
    from rag.index.store import open_collection

    monkeypatch.setattr(index, "BATCH_PAPERS", 8)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rng = random.Random(3)
    records = [arxiv_record(i, rng, words=20) for i in range(30)]
    lines = [json.dumps(r) for r in records] + [json.dumps(records[0])]  # a repeat, 4 batches on
    (corpus / "a.jsonl").write_text("\n".join(lines) + "\n", "utf-8")
    later = {
        "_id": "b-2",
        "title": "Other title",
        "text": records[2]["abstract"],
        "doi": "10.5555/x",
    }
    (corpus / "b.jsonl").write_text(json.dumps(later) + "\n", "utf-8")
    settings = make_settings(tmp_path / "idx")
    report = index.ingest([corpus], settings, embedder)
    assert (report.added, report.papers_total) == (30, 30)
    assert report.files[0].skipped[0].reason == "duplicate of line 1 (same abstract)"
    assert report.files[1].merged == 1  # merged with a paper written three batches earlier
    papers = {p.title: p for p in contents(settings).papers}
    merged = papers[records[2]["title"]]
    assert (merged.doi, merged.arxiv_id) == ("10.5555/x", "0701.00002")
    assert [s.rsplit("/", 1)[1] for s in merged.sources] == ["a.jsonl:3", "b.jsonl:1"]
    ids = open_collection(settings).get()["ids"]
    assert len(ids) == len(set(ids)) == report.chunks_embedded
    again = index.ingest([corpus], settings, embedder)
    assert (again.unchanged, again.chunks_embedded, again.papers_total) == (30, 0, 30)


@pytest.mark.slow
def test_killed_streaming_ingest_resumes_without_duplicates(tmp_path: Path) -> None:
    """Kill -9 a real ingest of a JSON-lines snapshot mid-write; the next run finishes it."""
    from rag.index.store import open_collection
    from ui.cli import app

    corpus = tmp_path / "snapshot.jsonl"
    total = write_snapshot(corpus, records=90, words=60)
    data = tmp_path / "data"
    env = {**os.environ, "PAPERCHAT_DATA_DIR": str(data), "PAPERCHAT_EMBED_BATCH_SIZE": "8"}
    cmd = _paperchat("ingest", str(corpus), "--json")
    proc = subprocess.Popen(
        cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert _wait(lambda: _chunk_rows(data) >= 40, 400), "the ingest never wrote 40 chunks"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL

    def stored() -> tuple[Counter[str], dict[str, int], list[str]]:
        page = open_collection(make_settings(data)).get(include=["metadatas"])
        metas = page["metadatas"] or []
        per_paper = Counter(str(m["paper_id"]) for m in metas)
        return per_paper, {str(m["paper_id"]): int(m["n_chunks"]) for m in metas}, page["ids"]

    per_paper, n_chunks, _ = stored()
    complete = {pid for pid, n in per_paper.items() if n == n_chunks[pid]}
    assert 0 < len(complete) < total
    os.environ["PAPERCHAT_DATA_DIR"] = str(data)  # restored by the autouse fixture
    listed = json.loads(runner.invoke(app, ["papers", "--json"]).stdout)
    assert {p["id"] for p in listed} == complete  # a half-written paper is not visible

    final = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr[-2000:]
    report = json.loads(final.stdout)
    assert report["papers_total"] == total
    assert report["added"] + report["updated"] == total - len(complete)
    assert report["unchanged"] == len(complete)  # already written: not embedded again
    per_paper, n_chunks, ids = stored()
    assert len(per_paper) == total and per_paper == Counter(n_chunks)
    assert len(ids) == len(set(ids))


if __name__ == "__main__":
    size = float(sys.argv[1])
    folder = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("/tmp")
    target = folder / f"arxiv-{size:g}mb.jsonl"
    if not target.exists():
        began = time.perf_counter()
        count = write_snapshot(target, mb=size)
        print(f"wrote {count:,} records in {time.perf_counter() - began:.0f} s to {target}")
    print(json.dumps(_measured(target)))
