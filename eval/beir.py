"""A public benchmark: any BEIR-layout directory (corpus, queries, qrels), e.g. SciFact.

    python -m eval.beir DIR --split train            # ingest DIR/corpus.jsonl once, then score
    python -m eval.beir DIR --split train --json out.json

The corpus is ingested with paperchat's own loaders and `rag.index.writer.ingest` into a data
folder of its own (`--data-dir`, default `eval/out/beir/<DIR name>`; re-running skips the unchanged
papers), then every query of the split is searched with each retriever mode. Reported per mode:
nDCG@10, recall@10, recall@100, MRR@10 (BEIR's definitions: graded gains, recall uncapped) and
p50/p95 search time, beside the published BM25 nDCG@10 when the data set is known.
Tune on train only; the test split is for one final check.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag import Embedder, Paper, Retriever, Settings

MODES = ("hybrid", "dense", "lexical")
DEPTH = 100
# Published nDCG@10 on the *test* split (BEIR paper, arXiv 2104.08663, Table 2).
PUBLISHED_BM25 = {"scifact": 0.665, "nfcorpus": 0.325, "fiqa": 0.236, "arguana": 0.315}


@dataclass(frozen=True)
class BeirSet:
    """A BEIR directory's corpus file, one split's queries and their judgments."""

    name: str
    corpus: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_beir(directory: Path, split: str) -> BeirSet:
    """Read `queries.jsonl` and `qrels/<split>.tsv`; keep the queries that have judgments."""
    qrels: dict[str, dict[str, int]] = {}
    qrels_path = directory / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        raise FileNotFoundError(f"no judgments for split {split!r}: {qrels_path} is missing")
    with qrels_path.open(encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle, delimiter="\t"):
            if len(row) < 3 or not row[2].strip().lstrip("-").isdigit():
                continue  # the header row, blank lines
            qrels.setdefault(row[0].strip(), {})[row[1].strip()] = int(row[2])
    queries: dict[str, str] = {}
    with (directory / "queries.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                if str(record["_id"]) in qrels:
                    queries[str(record["_id"])] = str(record["text"])
    qrels = {q: {d: s for d, s in rel.items() if s > 0} for q, rel in qrels.items() if q in queries}
    return BeirSet(directory.name, directory / "corpus.jsonl", queries, qrels)


def ndcg(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    """nDCG@k with graded gains (trec_eval's linear gain, log2 discount)."""
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall(ranked: Sequence[str], relevant: dict[str, int], k: int) -> float:
    """Share of the relevant documents found in the top k (BEIR's recall: not capped at k)."""
    return len(set(ranked[:k]) & relevant.keys()) / len(relevant) if relevant else 0.0


def mrr(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    """Reciprocal rank of the first relevant document within the top k."""
    return next((1 / (i + 1) for i, d in enumerate(ranked[:k]) if d in relevant), 0.0)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def doc_ids(paper: Paper) -> tuple[str, ...]:
    """The corpus ids a paper stands for (several when the corpus repeats an abstract)."""
    return paper.source_ids


@dataclass
class ModeResult:
    """One retriever mode's figures over a split."""

    mode: str
    queries: int
    ndcg_10: float
    recall_10: float
    recall_100: float
    mrr_10: float
    p50_ms: float
    p95_ms: float
    per_query: dict[str, float] = field(default_factory=dict, repr=False)


def ranked_docs(retriever: Retriever, query: str, mode: str, depth: int = DEPTH) -> list[str]:
    """Search and flatten the ranked papers into ranked corpus ids."""
    hits = retriever.search(query, k=depth, mode=mode).hits  # type: ignore[arg-type]
    return list(dict.fromkeys(d for h in hits for d in doc_ids(h.paper)))[:depth]


class CachedQueries:
    """An embedder whose query vectors were computed beforehand, in batches.

    Search times then measure retrieval alone; the query embedding is timed apart
    (`embed_p50_ms`), as on a loaded 2-core machine it swamps everything else.
    """

    def __init__(self, embedder: Embedder, queries: Sequence[str]) -> None:
        self.embedder = embedder
        vectors = embedder.embed_documents(list(queries))
        self.vectors = dict(zip(queries, vectors, strict=True))

    def embed_query(self, text: str) -> list[float]:
        """The precomputed vector, else a fresh one."""
        found = self.vectors.get(text)
        return found if found is not None else self.embedder.embed_query(text)

    def embed_documents(self, texts: Sequence[str], progress: Any = None) -> list[list[float]]:
        """Delegate to the wrapped embedder."""
        return self.embedder.embed_documents(texts, progress)

    def count_tokens(self, text: str) -> int:
        """Delegate to the wrapped embedder."""
        return self.embedder.count_tokens(text)


def embed_timing(embedder: Embedder, queries: Sequence[str], n: int = 30) -> dict[str, float]:
    """p50/p95 of embedding single queries (the part of a search the model costs)."""
    embedder.embed_query("warm-up query")
    times = []
    for text in list(queries)[:n]:
        start = time.perf_counter()
        embedder.embed_query(text)
        times.append((time.perf_counter() - start) * 1000)
    return {
        "embed_p50_ms": round(percentile(times, 50), 1),
        "embed_p95_ms": round(percentile(times, 95), 1),
    }


def evaluate(
    retriever: Retriever, data: BeirSet, modes: Sequence[str] = MODES, limit: int | None = None
) -> list[ModeResult]:
    """Score every mode on the split's queries (the first `limit` only, if given)."""
    qids = sorted(data.queries, key=lambda q: (len(q), q))[:limit]
    if "dense" in modes or "hybrid" in modes:
        retriever.embedder = CachedQueries(retriever.embedder, [data.queries[q] for q in qids])  # type: ignore[assignment]
    results = []
    for mode in modes:
        ranked_docs(retriever, "warm-up query", mode)
        scores: dict[str, list[float]] = {"ndcg": [], "r10": [], "r100": [], "mrr": []}
        times: list[float] = []
        per_query = {}
        for qid in qids:
            start = time.perf_counter()
            ranked = ranked_docs(retriever, data.queries[qid], mode)
            times.append((time.perf_counter() - start) * 1000)
            rel = data.qrels[qid]
            scores["ndcg"].append(ndcg(ranked, rel))
            scores["r10"].append(recall(ranked, rel, 10))
            scores["r100"].append(recall(ranked, rel, 100))
            scores["mrr"].append(mrr(ranked, rel))
            per_query[qid] = scores["ndcg"][-1]
        n = max(len(qids), 1)
        results.append(
            ModeResult(
                mode,
                len(qids),
                sum(scores["ndcg"]) / n,
                sum(scores["r10"]) / n,
                sum(scores["r100"]) / n,
                sum(scores["mrr"]) / n,
                percentile(times, 50) if times else 0.0,
                percentile(times, 95) if times else 0.0,
                per_query,
            )
        )
    return results


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ingest_corpus(
    data: BeirSet, settings: Settings, embedder: Embedder, show_progress: bool = True
) -> dict[str, Any]:
    """Ingest the corpus (only what changed) with a progress bar; return time, rate, memory."""
    from rag import Library
    from ui.shell import ingest_progress

    start = time.perf_counter()
    with ingest_progress(enabled=show_progress) as progress:
        report = Library(settings, embedder=embedder).ingest([data.corpus], progress=progress)
    seconds = time.perf_counter() - start
    embedded = report.added + report.updated
    return {
        "papers": report.papers_total,
        "embedded": embedded,
        "chunks_embedded": report.chunks_embedded,
        "skipped": report.skipped,
        "seconds": round(seconds, 1),
        "papers_per_s": round(embedded / seconds, 2) if embedded else None,
        "peak_rss_mb": round(peak_rss_mb()),
    }


def encode_floor(
    data: BeirSet, embedder: Embedder, n_papers: int, chunk_tokens: int
) -> dict[str, Any]:
    """Ingest rate against the raw encode floor on the first `n_papers` of the corpus.

    The floor is `embed_documents` of the same chunk texts (batch 32, no store); the ingest
    goes into a fresh temporary index. Both run in this process, one after the other, so
    they see the same machine load; the model is loaded beforehand and counted on neither side.
    """
    import tempfile

    from rag import Library, Settings, chunk_paper, load_paths

    with tempfile.TemporaryDirectory(prefix="beir-floor-") as tmp:
        sample = Path(tmp) / "sample.jsonl"
        with data.corpus.open(encoding="utf-8") as src, sample.open("w", encoding="utf-8") as dst:
            for _, line in zip(range(n_papers), src, strict=False):
                dst.write(line)
        papers = load_paths([sample]).papers
        texts = [
            c.dense_text
            for p in papers
            for c in chunk_paper(p, chunk_tokens, embedder.count_tokens)
        ]
        embedder.embed_query("warm-up")
        start = time.perf_counter()
        embedder.embed_documents(texts)
        floor_s = time.perf_counter() - start
        settings = Settings(_env_file=None, data_dir=Path(tmp) / "data")  # type: ignore[call-arg]
        start = time.perf_counter()
        Library(settings, embedder=embedder).ingest([sample])
        ingest_s = time.perf_counter() - start
    return {
        "papers": len(papers),
        "chunks": len(texts),
        "floor_s": round(floor_s, 1),
        "ingest_s": round(ingest_s, 1),
        "floor_papers_per_s": round(len(papers) / floor_s, 2),
        "ingest_papers_per_s": round(len(papers) / ingest_s, 2),
        "ratio_to_floor": round(floor_s / ingest_s, 3),
        "load_average": round(os.getloadavg()[0], 1),
    }


def render(results: Sequence[ModeResult], data: BeirSet, split: str) -> str:
    """A Markdown table of the figures, with the published BM25 beside them."""
    published = PUBLISHED_BM25.get(data.name.lower())
    lines = [
        f"{data.name} ({split} split, {results[0].queries if results else 0} queries)",
        "",
        "| retriever | nDCG@10 | recall@10 | recall@100 | MRR@10 | search p50 / p95 ms* |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.mode} | {r.ndcg_10:.3f} | {r.recall_10:.3f} | {r.recall_100:.3f} | "
            f"{r.mrr_10:.3f} | {r.p50_ms:.1f} / {r.p95_ms:.1f} |"
        )
    if published is not None:
        lines.append(f"| published BM25 (BEIR, test split) | {published:.3f} | | | | |")
    lines += ["", "*k = 100, query vectors embedded beforehand (the embedding is timed apart)."]
    return "\n".join(lines)


def run(
    directory: Path,
    split: str = "train",
    data_dir: Path | None = None,
    modes: Sequence[str] = MODES,
    limit: int | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Ingest a BEIR directory's corpus and score its split: what `paperchat eval` can call."""
    from rag import Library, Settings, make_embedder

    data = load_beir(directory, split)
    data_dir = data_dir or Path("eval/out/beir") / directory.name
    settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
    embedder = make_embedder(settings.embed_model, settings.embed_batch_size, settings)
    ingested = ingest_corpus(data, settings, embedder, show_progress)
    start = time.perf_counter()
    retriever = Library(settings, embedder=embedder).open().retriever
    load_s = time.perf_counter() - start
    load_avg = os.getloadavg()[0]
    embedding = embed_timing(embedder, list(data.queries.values()))
    results = evaluate(retriever, data, modes, limit)
    return {
        "dataset": data.name,
        "split": split,
        "ingest": ingested,
        "retriever_load_s": round(load_s, 2),
        "query_embedding": embedding,
        "load_average": [round(load_avg, 1), round(os.getloadavg()[0], 1)],
        "published_bm25_ndcg_10": PUBLISHED_BM25.get(data.name.lower()),
        "results": [
            {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(r).items()}
            for r in results
        ],
        "table": render(results, data, split),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ingest and score a BEIR directory, print a table (and JSON on request)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("directory", type=Path, help="corpus.jsonl, queries.jsonl, qrels/")
    parser.add_argument("--split", default="train", help="qrels/<split>.tsv to score (train)")
    parser.add_argument("--data-dir", type=Path, help="index folder (eval/out/beir/<name>)")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated modes")
    parser.add_argument("--limit", type=int, help="score only this many queries")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--floor", type=int, metavar="N", help="only measure ingest vs the encode floor on N papers"
    )
    args = parser.parse_args(argv)
    if args.floor:
        from rag import Settings, make_embedder

        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        embedder = make_embedder(settings.embed_model, settings.embed_batch_size, settings)
        data = load_beir(args.directory, args.split)
        print(json.dumps(encode_floor(data, embedder, args.floor, settings.chunk_tokens)))
        return 0
    try:
        out = run(args.directory, args.split, args.data_dir, args.modes.split(","), args.limit)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(out["table"])
    ing = out["ingest"]
    print(
        f"\ningest: {ing['papers']} papers, {ing['embedded']} embedded in {ing['seconds']} s"
        f" ({ing['papers_per_s']} papers/s), peak RSS {out['peak_rss_mb']} MB;"
        f" retriever load {out['retriever_load_s']} s"
    )
    emb = out["query_embedding"]
    print(
        f"search times exclude the query embedding (batched beforehand); single-query embedding"
        f" p50 / p95 {emb['embed_p50_ms']} / {emb['embed_p95_ms']} ms; 1-min load average"
        f" {out['load_average'][0]} -> {out['load_average'][1]}"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        per_query_free = {
            **out,
            "results": [{k: v for k, v in r.items() if k != "per_query"} for r in out["results"]],
        }
        args.json.write_text(json.dumps(per_query_free, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
