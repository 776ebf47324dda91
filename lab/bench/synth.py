"""Synthetic collections: recombined seed sentences written straight into Chroma.

Embedding 100k abstracts for real takes hours on a 2-core machine, so every distinct seed
sentence is embedded once (real model, cached on disk) and a synthetic chunk's vector is the
L2-normalised mean of its sentences' vectors. Everything else is the real write path:
`chunk_paper`, `paper_metadata`, `content_hash` and `add_chunks` inside ingest's `writing`
bracket (which saves the catalog at the end), so the normal Retriever opens the result.
"""

from __future__ import annotations

import hashlib
import json
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.records import Paper

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "corpus" / "seeds"
MAX_SENTENCE_TOKENS = 100  # below every chunk budget, so chunking never splits a sentence
MIN_SENTENCE_WORDS = 5
SOURCE_FILES = 20
WRITE_BATCH = 2000  # chunks per add_chunks call


@dataclass(frozen=True)
class SeedPool:
    """What synthetic papers are recombined from."""

    sentences: tuple[str, ...]
    title_heads: tuple[str, ...]
    title_tails: tuple[str, ...]
    authors: tuple[str, ...]


def seed_pool(
    count: Callable[[str], int], corpus: Sequence[Path] = (SEEDS,), limit: int | None = None
) -> SeedPool:
    """Collect distinct seed sentences (short enough never to be split), titles and authors."""
    from rag.corpus.loaders import load_paths
    from rag.text import split_sentences

    papers = sorted(load_paths(list(corpus)).papers, key=lambda p: p.id)
    sentences: dict[str, None] = {}
    heads: dict[str, None] = {}
    tails: dict[str, None] = {}
    authors: dict[str, None] = {}
    for p in papers:
        for s in split_sentences(p.abstract):
            if len(s.split()) >= MIN_SENTENCE_WORDS and count(s) <= MAX_SENTENCE_TOKENS:
                sentences[s] = None
        if not p.title_derived:
            head, sep, tail = p.title.partition(":")
            if sep and tail.strip():
                heads[head.strip()] = None
                tails[tail.strip()] = None
            else:
                tails[p.title.strip()] = None
        for a in p.authors:
            authors[a] = None
    chosen = list(sentences)[:limit] if limit else list(sentences)
    return SeedPool(tuple(chosen), tuple(heads), tuple(tails), tuple(authors))


def pool_key(pool: SeedPool, model: str) -> str:
    """Cache key for a pool's sentence vectors."""
    h = hashlib.sha1(model.encode())
    for s in pool.sentences:
        h.update(s.encode("utf-8") + b"\0")
    return h.hexdigest()[:16]


def sentence_vectors(
    pool: SeedPool, cache_dir: Path, model: str, embed: Callable[[list[str]], Any] | None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Load the pool's sentence vectors from the cache, or embed them once and cache them."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"sentences-{pool_key(pool, model)}.npy"
    if path.exists():
        return np.load(path), {"cached": True, "path": str(path), "seconds": 0.0}
    if embed is None:
        raise FileNotFoundError(path)
    t0 = time.perf_counter()
    vectors = np.asarray(embed(list(pool.sentences)), dtype=np.float32)
    seconds = time.perf_counter() - t0
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(path)
    return vectors, {"cached": False, "path": str(path), "seconds": round(seconds, 2)}


def synthetic_papers(
    pool: SeedPool, n: int, seed: int = 1234, names: str = "seed"
) -> Iterator[tuple[Paper, list[int]]]:
    """Yield n distinct synthetic papers and the pool indices of their sentences, in order.

    `names="seed"` draws whole seed authors; `"mixed"` pairs seed first names with seed
    surnames, for collections large enough that a few hundred authors would be unrealistic.
    """
    from rag.text import fingerprint

    rng = random.Random(seed)
    authors_pool = pool.authors if names == "seed" else mixed_names(pool.authors)
    seen: set[str] = set()
    n_sent = len(pool.sentences)
    made = 0
    while made < n:
        picked = rng.sample(range(n_sent), min(n_sent, rng.randint(4, 8)))
        abstract = " ".join(pool.sentences[i] for i in picked)
        pid = fingerprint(abstract)
        if pid in seen:
            continue
        seen.add(pid)
        tail = rng.choice(pool.title_tails) if pool.title_tails else "Untitled"
        if pool.title_heads and rng.random() < 0.6:
            title = f"{rng.choice(pool.title_heads)}: {tail}"
        else:
            title = tail
        title = f"{title} ({made % 997})" if rng.random() < 0.3 else title
        authors: tuple[str, ...] = ()
        if authors_pool and rng.random() < 0.7:
            authors = tuple(rng.sample(authors_pool, min(len(authors_pool), rng.randint(1, 5))))
        year = rng.randint(2015, 2025) if rng.random() < 0.9 else None
        source = f"synthetic/part-{made % SOURCE_FILES:02d}.jsonl:{made // SOURCE_FILES + 1}"
        yield (
            Paper(
                id=pid,
                title=title,
                abstract=abstract,
                authors=authors,
                year=year,
                n_authors=len(authors) or None,
                sources=(source,),
            ),
            picked,
        )
        made += 1


def mixed_names(authors: Sequence[str]) -> tuple[str, ...]:
    """Seed first names, a middle initial and one or two seed surnames: ~700k distinct names.

    The seeds hold 47 authors; a million papers by them would give every author ~50k papers.
    """
    firsts = sorted({a.split()[0] for a in authors if len(a.split()) > 1})
    lasts = sorted({a.split()[-1] for a in authors if len(a.split()) > 1})
    surnames = lasts + [f"{a}-{b}" for a in lasts for b in lasts if a != b]
    return tuple(f"{f} {chr(65 + i)}. {s}" for f in firsts for i in range(26) for s in surnames)


def chunk_vectors(
    chunk_texts: Sequence[str], sentence_ids: Sequence[int], pool: SeedPool, vectors: np.ndarray
) -> tuple[list[list[float]], int]:
    """Mean of each chunk's sentence vectors, L2-normalised; returns (vectors, fallbacks).

    Sentences are consumed in order while the chunk text contains them; a chunk that
    contains none (a re-split sentence) falls back to the mean of the whole paper.
    """
    out: list[list[float]] = []
    fallbacks = 0
    j = 0
    for text in chunk_texts:
        members: list[int] = []
        while j < len(sentence_ids) and pool.sentences[sentence_ids[j]] in text:
            members.append(sentence_ids[j])
            j += 1
        if not members:
            fallbacks += 1
            members = list(sentence_ids)
        v = vectors[members].mean(axis=0)
        v = v / max(float(np.linalg.norm(v)), 1e-12)
        out.append(v.astype(np.float32).tolist())
    return out, fallbacks


def write_papers(
    collection: Any,
    pool: SeedPool,
    vectors: np.ndarray,
    n: int,
    count: Callable[[str], int],
    chunk_tokens: int,
    seed: int = 1234,
    skip: int = 0,
    names: str = "seed",
    on_batch: Callable[[int, int, list[tuple[Paper, list[str]]]], None] | None = None,
) -> dict[str, Any]:
    """Write synthetic papers `skip`..n into a collection in whole-paper batches.

    `on_batch(papers, chunks, rows)` runs after each batch is stored, with the running
    totals (counted from paper 0) and the batch's papers with their chunk texts.
    """
    from rag.corpus.chunking import chunk_paper
    from rag.index.store import add_chunks, paper_metadata
    from rag.index.writer import content_hash

    t0 = time.perf_counter()
    papers = chunks_total = fallbacks = 0
    batch_chunks: list[Any] = []
    batch_vectors: list[list[float]] = []
    batch_metas: list[dict[str, Any]] = []
    rows: list[tuple[Paper, list[str]]] = []
    write_s = 0.0
    # One thread writes while this one makes the next batch: Chroma (a server on the other
    # core, or the embedded store's native code) works while Python generates.
    pending: queue.Queue[tuple[Any, ...] | None] = queue.Queue(maxsize=2)
    failed: list[BaseException] = []

    def writer() -> None:
        nonlocal write_s
        while (item := pending.get()) is not None:
            if failed:
                continue
            try:
                tw = time.perf_counter()
                add_chunks(collection, *item[:3])
                write_s += time.perf_counter() - tw
                if on_batch is not None:
                    on_batch(*item[3:])
            except BaseException as exc:  # re-raised in the generating thread
                failed.append(exc)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()

    def flush() -> None:
        nonlocal batch_chunks, batch_vectors, batch_metas, rows
        if failed:
            raise failed[0]
        if batch_chunks:
            pending.put((batch_chunks, batch_vectors, batch_metas, papers, chunks_total, rows))
        batch_chunks, batch_vectors, batch_metas, rows = [], [], [], []

    for paper, picked in synthetic_papers(pool, n, seed, names):
        chunks = chunk_paper(paper, chunk_tokens, count)
        papers += 1
        chunks_total += len(chunks)
        if papers <= skip:
            continue
        vecs, fb = chunk_vectors([c.text for c in chunks], picked, pool, vectors)
        meta = paper_metadata(paper, content_hash(paper), len(chunks))
        batch_chunks.extend(chunks)
        batch_vectors.extend(vecs)
        batch_metas.extend([meta] * len(chunks))
        rows.append((paper, [c.text for c in chunks]))
        fallbacks += fb
        if len(batch_chunks) >= WRITE_BATCH:
            flush()
    flush()
    pending.put(None)
    thread.join()
    if failed:
        raise failed[0]
    return {
        "papers": papers,
        "chunks": chunks_total,
        "chunk_vector_fallbacks": fallbacks,
        "build_s": round(time.perf_counter() - t0, 2),
        "chroma_write_s": round(write_s, 2),
    }


def build_collection(
    settings: Any,
    pool: SeedPool,
    vectors: np.ndarray,
    n: int,
    count: Callable[[str], int],
    seed: int = 1234,
) -> dict[str, Any]:
    """Write n synthetic papers into the collection exactly as `rag.index.writer` lays them out."""
    from rag.index.generations import writing
    from rag.index.store import drop_collection, open_collection

    t0 = time.perf_counter()
    drop_collection(settings)
    collection = open_collection(settings, create=True)
    with writing(settings, collection):  # ingest's bracket: the catalog is saved at the end
        info = write_papers(collection, pool, vectors, n, count, settings.chunk_tokens, seed)
        t_catalog = time.perf_counter()
    return info | {
        "build_s": round(time.perf_counter() - t0, 2),
        "catalog_s": round(time.perf_counter() - t_catalog, 2),
        "stored_chunks": collection.count(),
    }


def describe_pool(pool: SeedPool) -> dict[str, Any]:
    """Sizes of the seed pool, for the report."""
    return {
        "sentences": len(pool.sentences),
        "title_heads": len(pool.title_heads),
        "title_tails": len(pool.title_tails),
        "authors": len(pool.authors),
    }


def dump(obj: Any) -> str:
    """JSON for worker output."""
    return json.dumps(obj, default=str)
