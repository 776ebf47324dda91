"""One benchmark step in its own process: `python -m lab.bench.worker TASK JSON_ARGS`.

Prints one JSON object on the last stdout line, always with `vmhwm_mb` (peak RSS of this
process) and `loadavg` (1/5/15-minute load averages at the start and end).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from lab.bench import scale
from lab.bench.embedders import task_retrieval, task_throughput
from lab.bench.measure import catalog_mb, filter_values, settings_for, summary, vmhwm_mb
from lab.bench.synth import build_collection, describe_pool, seed_pool, sentence_vectors


def task_sentences(args: dict[str, Any]) -> dict[str, Any]:
    """Embed (or load from the cache) the seed sentence vectors."""
    from rag.embed import make_embedder

    emb = make_embedder(args["model"], int(args.get("batch_size", 32)))
    pool = seed_pool(emb.count_tokens, limit=args.get("limit"))
    from rag.embed.base import index_identity

    key = index_identity(args["model"])
    vecs, info = sentence_vectors(pool, Path(args["cache_dir"]), key, emb.embed_documents)
    return {"pool": describe_pool(pool), "vectors": list(vecs.shape), **info}


def task_build(args: dict[str, Any]) -> dict[str, Any]:
    """Write a synthetic collection of args['n'] papers from cached sentence vectors."""
    from rag.embed import make_embedder

    settings = settings_for(args)
    emb = make_embedder(settings.embed_model, settings.embed_batch_size)
    pool = seed_pool(emb.count_tokens, limit=args.get("limit"))
    from rag.embed.base import index_identity  # fp32 ONNX shares PyTorch's vectors

    key = index_identity(settings.embed_model)
    vecs, _ = sentence_vectors(pool, Path(args["cache_dir"]), key, None)
    info = build_collection(settings, pool, vecs, int(args["n"]), emb.count_tokens)
    info["torch_imported"] = "torch" in sys.modules
    return info


def task_ingest(args: dict[str, Any]) -> dict[str, Any]:
    """Time rag.index.writer.ingest with the default embedder (fresh dir, then unchanged re-ingest)
    beside the floor: SentenceTransformer.encode of the same chunks with the PyTorch model."""
    from rag.corpus.chunking import chunk_paper
    from rag.corpus.loaders import load_paths
    from rag.embed import BUNDLED, make_embedder
    from rag.index.writer import ingest

    settings = settings_for(args)
    corpus = [Path(p) for p in args["corpus"]]
    emb: Any = make_embedder(settings.embed_model, settings.embed_batch_size, settings)
    t0 = time.perf_counter()
    model = make_embedder(BUNDLED)._model  # type: ignore[attr-defined]  # the floor's model
    emb.embed_documents(["load the model once, outside every timed region"])
    model_load_s = time.perf_counter() - t0
    papers = load_paths(corpus).papers
    texts = [
        c.dense_text
        for p in papers
        for c in chunk_paper(p, settings.chunk_tokens, emb.count_tokens)
    ]
    model.encode(texts[:8], batch_size=settings.embed_batch_size, normalize_embeddings=True)

    def floor() -> float:
        t = time.perf_counter()
        model.encode(texts, batch_size=settings.embed_batch_size, normalize_embeddings=True)
        return time.perf_counter() - t

    floors = [floor()]
    t = time.perf_counter()  # a one-time cost of the write path, timed apart from the ingest
    from llama_index.core.schema import TextNode  # noqa: F401
    from llama_index.vector_stores.chroma import ChromaVectorStore  # noqa: F401

    write_path_import_s = time.perf_counter() - t
    t = time.perf_counter()
    first = ingest(corpus, settings, emb)
    ingest_s = time.perf_counter() - t
    floors.append(floor())
    t = time.perf_counter()
    again = ingest(corpus, settings, emb)
    reingest_s = time.perf_counter() - t
    floor_s = statistics.fmean(floors)
    n = len(papers)
    return {
        "papers": n,
        "embedder": settings.embed_model,
        "chunks": len(texts),
        "chunks_embedded": first.chunks_embedded,
        "batch_size": settings.embed_batch_size,
        "model_load_s": round(model_load_s, 2),
        "ingest_s": round(ingest_s, 2),
        "floor_encode_s": [round(f, 2) for f in floors],
        "ingest_papers_per_s": round(n / ingest_s, 2),
        "floor_papers_per_s": round(n / floor_s, 2),
        "ingest_vs_floor": round(floor_s / ingest_s, 3),
        "write_path_import_s": round(write_path_import_s, 2),
        "ingest_incl_import_vs_floor": round(floor_s / (ingest_s + write_path_import_s), 3),
        "reingest_s": round(reingest_s, 3),
        "reingest_chunks_embedded": again.chunks_embedded,
        "reingest_share": round(reingest_s / ingest_s, 4),
    }


def task_query(args: dict[str, Any]) -> dict[str, Any]:
    """Cold load, then warm search / extractive ask / filtered search latencies."""
    from rag.index import catalog
    from rag.pipeline import PaperChat
    from rag.retrieval.retrieve import Filters

    settings = settings_for(args)
    questions = [
        json.loads(x)["question"] for x in Path(args["questions"]).read_text().splitlines()
    ]
    questions = questions[: int(args.get("max_questions") or len(questions))]
    catalog_present = catalog.path_for(settings).exists()
    t = time.perf_counter()
    session = PaperChat(settings)
    cold_load_s = time.perf_counter() - t
    t = time.perf_counter()
    session.search(questions[0])
    first_query_s = time.perf_counter() - t  # includes loading the embedding model
    for q in questions[:3]:
        session.search(q)
        session.ask(q, backend="extractive")
    values = filter_values(session.retriever)
    filters = {
        "author": Filters(author=values["author"]) if values["author"] else None,
        "source": Filters(source=values["source"]) if values["source"] else None,
        "year": Filters(year_min=values["year_min"]) if values["year_min"] else None,
    }
    for f in filters.values():  # builds any lazy filter index outside the timed loop
        if f is not None:
            session.search(questions[0], filters=f)
    times: dict[str, list[float]] = {"embed_query": [], "search": [], "ask": []}
    times.update({f"search_{name}": [] for name, f in filters.items() if f})
    hits_filtered: dict[str, int] = {name: 0 for name in filters}
    abstained = 0
    for _ in range(int(args.get("repeats", 1))):
        for q in questions:  # interleaved, so load from other processes hits every mode alike
            t = time.perf_counter()
            session.embedder.embed_query(q)  # the reference: the model's share of a search
            times["embed_query"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            session.search(q)
            times["search"].append((time.perf_counter() - t) * 1000)
            for name, f in filters.items():
                if f is None:
                    continue
                t = time.perf_counter()
                r = session.search(q, filters=f)
                times[f"search_{name}"].append((time.perf_counter() - t) * 1000)
                hits_filtered[name] += len(r.hits)
            t = time.perf_counter()
            answer = session.ask(q, backend="extractive")
            times["ask"].append((time.perf_counter() - t) * 1000)
            abstained += answer.abstained
    return {
        "papers": len(session.retriever.papers),
        "chunks": session.retriever.n_chunks,
        "cold_load_s": round(cold_load_s, 3),
        "catalog_present": catalog_present,
        "first_query_s": round(first_query_s, 3),
        "questions": len(questions),
        "latency": {name: summary(v) for name, v in times.items()},
        "filters": values,
        "filtered_hits_mean": {
            k: round(v / max(1, len(times.get(f"search_{k}", []))), 2)
            for k, v in hits_filtered.items()
        },
        "abstained": abstained,
        "store": settings.store_location(),
    }


def task_fallback(args: dict[str, Any]) -> dict[str, Any]:
    """Cold load with no catalog: read every chunk from Chroma, tokenize, save a new catalog."""
    from rag.embed import make_embedder
    from rag.index import catalog
    from rag.retrieval.retrieve import Retriever

    settings = settings_for(args)
    path = catalog.path_for(settings)
    path.unlink(missing_ok=True)
    t = time.perf_counter()
    retriever = Retriever(settings, make_embedder(settings.embed_model))
    load_s = time.perf_counter() - t
    return {
        "papers": len(retriever.papers),
        "fallback_load_s": round(load_s, 3),
        "catalog_saved": path.exists(),
        "catalog_mb": catalog_mb(path),
        "torch_imported": "torch" in sys.modules,
    }


def task_copy(args: dict[str, Any]) -> dict[str, Any]:
    """Copy a collection (vectors, documents, metadata as written) into a Chroma server."""
    from rag.index.store import PAGE, drop_collection, open_collection

    src = open_collection(settings_for({"data_dir": args["data_dir"]}))
    dst_settings = settings_for({"data_dir": args["data_dir"], "chroma_port": args["chroma_port"]})
    drop_collection(dst_settings)
    dst = open_collection(dst_settings, create=True)
    t = time.perf_counter()
    offset = 0
    while True:
        page = src.get(include=["embeddings", "metadatas", "documents"], limit=PAGE, offset=offset)
        if not page["ids"]:
            break
        dst.add(
            ids=page["ids"],
            embeddings=page["embeddings"],
            metadatas=page["metadatas"],
            documents=page["documents"],
        )
        offset += len(page["ids"])
    return {"chunks": dst.count(), "copy_s": round(time.perf_counter() - t, 2)}


TASKS = {
    **{f"scale_{name}": task for name, task in scale.PHASES.items()},
    "sentences": task_sentences,
    "build": task_build,
    "ingest": task_ingest,
    "query": task_query,
    "copy": task_copy,
    "fallback": task_fallback,
    "embed_throughput": task_throughput,
    "embed_retrieval": task_retrieval,
}


def main() -> None:
    """Run one task and print its JSON result as the last line."""
    task, raw = sys.argv[1], sys.argv[2]
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    load_start = os.getloadavg()
    result = TASKS[task](json.loads(raw))
    result["vmhwm_mb"] = vmhwm_mb()
    result["loadavg"] = {
        "start": [round(x, 2) for x in load_start],
        "end": [round(x, 2) for x in os.getloadavg()],
    }
    sys.stdout.write("\n" + json.dumps(result, default=str) + "\n")


if __name__ == "__main__":
    main()
