"""Offline retrieval experiments on a BEIR split (train only): `python -m eval.beir_tune DIR`.

Reads the index `eval.beir` built, embeds every query once (cached), computes exact dense
similarities to every chunk and BM25 scores under several settings, and prints nDCG@10 for
fusion / field / aggregation variants, so settings are chosen on train without touching test.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from eval.beir import load_beir, ndcg

Scores = np.ndarray  # (queries, papers)


def _chunk_vectors(retriever, ids: Sequence[str]) -> np.ndarray:  # type: ignore[no-untyped-def]
    out = np.zeros((len(ids), 384), dtype=np.float32)
    pos = {cid: i for i, cid in enumerate(ids)}
    for start in range(0, len(ids), 2000):
        page = retriever.collection.get(ids=list(ids[start : start + 2000]), include=["embeddings"])
        for cid, vec in zip(page["ids"], page["embeddings"], strict=True):
            out[pos[cid]] = vec
    return out


def _bm25(docs: list[str], queries: list[list[str]], k1: float, b: float) -> Scores:
    import bm25s

    from rag.lexical import tokenize

    index = bm25s.BM25(k1=k1, b=b)
    index.index([tokenize(d) for d in docs], show_progress=False)
    out = np.zeros((len(queries), len(docs)), dtype=np.float32)
    for i, q in enumerate(queries):
        known = [t for t in q if t in index.vocab_dict]
        if known:
            out[i] = index.get_scores(known)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """Print nDCG@10 on the split for each variant tried."""
    from rag.catalog import lexical_doc
    from rag.config import Settings
    from rag.embed import make_embedder
    from rag.lexical import query_terms, tokenize
    from rag.retrieve import Retriever

    parser = argparse.ArgumentParser()
    parser.add_argument("directory", type=Path)
    parser.add_argument("--split", default="train")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--features", action="store_true", help="extra lexical features")
    args = parser.parse_args(argv)
    if args.split == "test":
        raise SystemExit("tune on train only")
    data = load_beir(args.directory, args.split)
    settings = Settings(_env_file=None, data_dir=args.data_dir or Path("eval/out/beir") / data.name)  # type: ignore[call-arg]
    embedder = make_embedder(settings.embed_model, settings.embed_batch_size, settings)
    retriever = Retriever(settings, embedder)
    qids = sorted(data.queries)
    texts = [data.queries[q] for q in qids]
    cache = settings.data_dir / f"queries-{args.split}.npy"
    if cache.exists():
        qvec = np.load(cache)
    else:
        qvec = np.array(embedder.embed_documents(texts), dtype=np.float32)
        np.save(cache, qvec)
    chunk_ids = [c.id for c in retriever.chunks]
    chunk_paper = np.array([c.paper for c in retriever.chunks])
    sims = qvec @ _chunk_vectors(retriever, chunk_ids).T  # (Q, chunks)
    n_papers = len(retriever.papers)
    order = np.argsort(chunk_paper, kind="stable")
    bounds = np.searchsorted(chunk_paper[order], np.arange(n_papers))
    dense_max = np.maximum.reduceat(sims[:, order], bounds, axis=1)
    dense_mean = np.add.reduceat(sims[:, order], bounds, axis=1) / np.diff(
        np.append(bounds, len(order))
    )
    doc_ids = [p.source_ids for p in retriever.papers]

    def score(matrix: Scores) -> float:
        total = 0.0
        for i, qid in enumerate(qids):
            top = np.argsort(-matrix[i], kind="stable")[:10]
            ranked = [d for p in top for d in doc_ids[p]]
            total += ndcg(ranked, data.qrels[qid])
        return total / len(qids)

    qterms = [query_terms(t) or tokenize(t) for t in texts]
    if args.features:
        _features(score, retriever, texts, qterms, dense_max, dense_mean)
        return
    dense: dict[str, Scores] = {"max": dense_max, "max+0.2mean": dense_max + 0.2 * dense_mean}
    vectors = _chunk_vectors(retriever, chunk_ids)
    for alpha in (0.3, 0.6):
        top = np.argsort(-dense_max, axis=1)[:, :3]
        fb = np.stack(
            [vectors[_best_chunks(sims[i], chunk_paper, top[i])].mean(0) for i in range(len(qids))]
        )
        q2 = qvec + alpha * fb
        q2 /= np.linalg.norm(q2, axis=1, keepdims=True)
        s2 = q2 @ vectors.T
        dense[f"prf{alpha}"] = np.maximum.reduceat(s2[:, order], bounds, axis=1)
    for name, m in dense.items():
        print(f"dense {name}: {score(m):.4f}")
    variants: dict[str, Callable[[object], str]] = {
        "title1": lambda p: f"{p.title}. {', '.join(p.authors)}. {p.abstract}",  # type: ignore[attr-defined]
        "title2": lexical_doc,  # type: ignore[dict-item]
    }
    lex: dict[str, Scores] = {}
    for (name, fn), k1, b in itertools.product(variants.items(), (0.9, 1.2, 1.5), (0.4, 0.75, 1.0)):
        key = f"{name}/k1={k1}/b={b}"
        lex[key] = _bm25([fn(p) for p in retriever.papers], qterms, k1, b)
        print(f"lexical {key}: {score(lex[key]):.4f}", flush=True)
    plain = [tokenize(t) for t in texts]
    lex["title2/k1=1.2/b=0.75/plainq"] = _bm25(
        [lexical_doc(p) for p in retriever.papers], plain, 1.2, 0.75
    )
    print(f"lexical plain query terms: {score(lex['title2/k1=1.2/b=0.75/plainq']):.4f}")
    ranked_lex = sorted(lex, key=lambda k: -score(lex[k]))[:3]
    chosen = {k: lex[k] for k in dict.fromkeys(["title2/k1=1.2/b=0.75", *ranked_lex])}
    results = _fusions(score, dense, chosen)
    for name, value in sorted(results.items(), key=lambda kv: -kv[1])[:25]:
        print(f"{value:.4f}  {name}")
    print(f"current: {results['minmax/max/title2/k1=1.2/b=0.75/w=0.45']:.4f}")


def _bigrams(tokens: list[str]) -> list[str]:
    return [f"{a}_{b}" for a, b in itertools.pairwise(tokens)]


def _features(score, retriever, texts, qterms, dense_max, dense_mean) -> None:  # type: ignore[no-untyped-def]
    """Try lexical features beside BM25: bigrams, title-only BM25, IDF coverage."""
    from rag.catalog import lexical_doc
    from rag.lexical import tokenize

    papers = retriever.papers
    docs = [lexical_doc(p) for p in papers]
    lex = _bm25(docs, qterms, 1.2, 0.75)
    seqs = [tokenize(f"{p.title}. {p.abstract}") for p in papers]
    qseq = [tokenize(t) for t in texts]
    bi = _bm25_tokens([_bigrams(d) for d in seqs], [_bigrams(q) for q in qseq], 1.2, 0.75)
    title = _bm25([p.title for p in papers], qterms, 1.2, 0.75)
    n = len(papers)
    sets = [set(d) for d in seqs]
    df: dict[str, int] = {}
    for d in sets:
        for t in d:
            df[t] = df.get(t, 0) + 1
    cov = np.zeros_like(lex)
    for i, q in enumerate(qterms):
        w = {t: np.log(1 + (n - df.get(t, 0) + 0.5) / (df.get(t, 0) + 0.5)) for t in set(q)}
        total = sum(w.values()) or 1.0
        for t, wt in w.items():
            for j in retriever.lexical.indices[
                retriever.lexical.indptr[retriever.lexical.term_ids[t]] : retriever.lexical.indptr[retriever.lexical.term_ids[t] + 1]
            ] if t in retriever.lexical.term_ids else []:
                cov[i, j] += wt / total
    print(f"bigram alone {score(bi):.4f}  title alone {score(title):.4f}  coverage alone {score(cov):.4f}")
    d = _minmax_top(dense_max + 0.2 * dense_mean)
    d0 = _minmax_top(dense_max)

    def norm(m: Scores) -> Scores:
        return m / np.maximum(m.max(axis=1, keepdims=True), 1e-9)

    ln, bn, tn = norm(lex), norm(bi), norm(title)
    print(f"current-like {score(0.45 * d0 + 0.55 * ln):.4f}")
    results = {}
    for wd, wb, wt, wc in itertools.product((0.4, 0.5), (0, 0.1, 0.2, 0.3), (0, 0.1, 0.2), (0, 0.2, 0.4)):
        m = wd * d + (1 - wd) * ln + wb * bn + wt * tn + wc * cov
        results[f"wd={wd} bigram={wb} title={wt} cov={wc}"] = score(m)
    for name, value in sorted(results.items(), key=lambda kv: -kv[1])[:20]:
        print(f"{value:.4f}  {name}")
    print("no extras:", results["wd=0.5 bigram=0 title=0 cov=0"])


def _bm25_tokens(docs: list[list[str]], queries: list[list[str]], k1: float, b: float) -> Scores:
    import bm25s

    index = bm25s.BM25(k1=k1, b=b)
    index.index(docs, show_progress=False)
    out = np.zeros((len(queries), len(docs)), dtype=np.float32)
    for i, q in enumerate(queries):
        known = [t for t in q if t in index.vocab_dict]
        if known:
            out[i] = index.get_scores(known)
    return out


def _best_chunks(sims: np.ndarray, chunk_paper: np.ndarray, papers: np.ndarray) -> list[int]:
    out = []
    for p in papers:
        idx = np.flatnonzero(chunk_paper == p)
        out.append(int(idx[np.argmax(sims[idx])]))
    return out


def _minmax_top(dense: Scores, n: int = 200) -> Scores:
    """The retriever's dense normalisation: min-max over the top-n candidates, 0 elsewhere."""
    out = np.zeros_like(dense)
    for i in range(len(dense)):
        top = np.argpartition(-dense[i], n)[:n]
        floor, peak = dense[i, top].min(), dense[i, top].max()
        out[i, top] = (dense[i, top] - floor) / max(peak - floor, 1e-6)
    return out


def _fusions(score, dense: dict[str, Scores], lexes: dict[str, Scores]) -> dict[str, float]:  # type: ignore[no-untyped-def]
    out: dict[str, float] = {}
    for (dname, agg), (lname, lexm) in itertools.product(dense.items(), lexes.items()):
        d = _minmax_top(agg)
        lnorm = lexm / np.maximum(lexm.max(axis=1, keepdims=True), 1e-9)
        for w in (0.3, 0.4, 0.45, 0.5, 0.6):
            out[f"minmax/{dname}/{lname}/w={w}"] = score(w * d + (1 - w) * lnorm)
        zd = (agg - agg.mean(1, keepdims=True)) / agg.std(1, keepdims=True)
        zl = (lexm - lexm.mean(1, keepdims=True)) / np.maximum(lexm.std(1, keepdims=True), 1e-9)
        for w in (0.3, 0.4, 0.5, 0.6):
            out[f"zscore/{dname}/{lname}/w={w}"] = score(w * zd + (1 - w) * zl)
        rd = np.argsort(np.argsort(-agg, 1), 1)
        rl = np.argsort(np.argsort(-lexm, 1), 1)
        for k in (10, 60):
            out[f"rrf{k}/{dname}/{lname}"] = score(1 / (k + rd) + 1 / (k + rl))
        print(f"fused {dname} x {lname}", flush=True)
    return out


if __name__ == "__main__":
    main()
