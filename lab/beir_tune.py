"""Offline retrieval experiments on a BEIR split (train only): `python -m lab.beir_tune DIR`.

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
    from rag.index.lexical import tokenize

    return _bm25_tokens([tokenize(d) for d in docs], queries, k1, b)


def main(argv: Sequence[str] | None = None) -> None:
    """Print nDCG@10 on the split for each variant tried."""
    from rag.config import Settings
    from rag.embed import make_embedder
    from rag.index.catalog import lexical_doc
    from rag.index.lexical import query_terms, tokenize
    from rag.retrieval.retrieve import Retriever

    parser = argparse.ArgumentParser()
    parser.add_argument("directory", type=Path)
    parser.add_argument("--split", default="train")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--features", action="store_true", help="extra lexical features")
    parser.add_argument("--prf", action="store_true", help="feedback from the hybrid top papers")
    parser.add_argument("--titles", action="store_true", help="a title-only dense feature")
    parser.add_argument("--chunks", action="store_true", help="fuse per chunk, then aggregate")
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
    chunks = retriever.chunk_rows()
    chunk_ids = [c.id for c in chunks]
    chunk_paper = np.array([c.paper for c in chunks])
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
    if args.chunks:
        _chunks(score, retriever, chunks, sims, chunk_paper, order, bounds, qterms, dense_max)
        return
    if args.titles:
        tcache = settings.data_dir / "titles.npy"
        if tcache.exists():
            tvec = np.load(tcache)
        else:
            tvec = np.array(
                embedder.embed_documents([p.title for p in retriever.papers]), np.float32
            )
            np.save(tcache, tvec)
        _titles(score, retriever, qvec @ tvec.T, dense_max, dense_mean, qterms)
        return
    if args.prf:
        vectors = _chunk_vectors(retriever, chunk_ids)
        _prf(score, retriever, qvec, vectors, chunk_paper, sims, order, bounds, qterms)
        return
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


def _chunks(score, retriever, chunks, sims, chunk_paper, order, bounds, qterms, dense_max) -> None:  # type: ignore[no-untyped-def]
    """Fuse dense and BM25 per chunk (title + chunk text), then take each paper's best chunk."""
    papers = retriever.papers
    ctexts = [f"{papers[c.paper].title}. {papers[c.paper].title}. {c.text}" for c in chunks]
    cl = _bm25(ctexts, qterms, 1.2, 0.75)
    lex = np.stack([retriever.lexical.scores(q) for q in qterms])
    ln = lex / np.maximum(lex.max(axis=1, keepdims=True), 1e-9)
    cln = cl / np.maximum(cl.max(axis=1, keepdims=True), 1e-9)
    cd = _minmax_top(sims, 600)
    d = _minmax_top(dense_max)
    print(f"chunk bm25 max alone {score(np.maximum.reduceat(cl[:, order], bounds, axis=1)):.4f}")
    results = {}
    for w in (0.4, 0.5, 0.6):
        per_chunk = np.maximum.reduceat((w * cd + (1 - w) * cln)[:, order], bounds, axis=1)
        results[f"chunk-fused w={w}"] = score(per_chunk)
        for mix in (0.3, 0.5, 0.7):
            paper = 0.5 * d + 0.5 * ln
            results[f"paper+chunk w={w} mix={mix}"] = score(mix * per_chunk + (1 - mix) * paper)
    for name, value in sorted(results.items(), key=lambda kv: -kv[1])[:12]:
        print(f"{value:.4f}  {name}")


def _titles(score, retriever, tsim, dense_max, dense_mean, qterms) -> None:  # type: ignore[no-untyped-def]
    lex = np.stack([retriever.lexical.scores(q) for q in qterms])
    ln = lex / np.maximum(lex.max(axis=1, keepdims=True), 1e-9)
    print(f"title dense alone {score(tsim):.4f}")
    results = {}
    for dname, dm in (("max", dense_max), ("max+0.2mean", dense_max + 0.2 * dense_mean)):
        d = _minmax_top(dm)
        t = _minmax_top(tsim)
        for wd, wt in itertools.product((0.3, 0.4, 0.5), (0.0, 0.1, 0.2, 0.3)):
            results[f"{dname} wd={wd} wt={wt}"] = score(wd * d + wt * t + (1 - wd) * ln)
        combo = _minmax_top(np.maximum(dm, tsim))
        results[f"{dname} max(chunk,title)"] = score(0.5 * combo + 0.5 * ln)
    for name, value in sorted(results.items(), key=lambda kv: -kv[1])[:15]:
        print(f"{value:.4f}  {name}")


def _prf(score, retriever, qvec, vectors, chunk_paper, sims, order, bounds, qterms) -> None:  # type: ignore[no-untyped-def]
    """Pseudo-relevance feedback from the fused ranking: Rocchio on the dense side, RM3-like
    expansion on the lexical side."""
    lexical = retriever.lexical
    n_docs = lexical.n_docs
    lex = np.stack([lexical.scores(q) for q in qterms])
    dmax = np.maximum.reduceat(sims[:, order], bounds, axis=1)

    def fuse(dense: Scores, lexm: Scores, w: float = 0.5) -> Scores:
        ln = lexm / np.maximum(lexm.max(axis=1, keepdims=True), 1e-9)
        return w * _minmax_top(dense) + (1 - w) * ln

    base = fuse(dmax, lex)
    print(f"base {score(base):.4f}", flush=True)
    # doc-major view of the BM25 score matrix, for expansion terms
    terms_of = np.repeat(np.arange(len(lexical.vocab)), np.diff(lexical.indptr))
    by_doc = np.argsort(lexical.indices, kind="stable")
    doc_ptr = np.searchsorted(lexical.indices[by_doc], np.arange(n_docs + 1))
    results = {}
    for m in (3, 5, 10):
        top = np.argsort(-base, axis=1)[:, :m]
        best = [
            [
                int(np.flatnonzero(chunk_paper == p)[np.argmax(sims[i, chunk_paper == p])])
                for p in top[i]
            ]
            for i in range(len(top))
        ]
        fb = np.stack([vectors[b].mean(0) for b in best])
        for alpha in (0.3, 0.6, 1.0):
            q2 = qvec + alpha * fb
            q2 /= np.linalg.norm(q2, axis=1, keepdims=True)
            s2 = q2 @ vectors.T
            d2 = np.maximum.reduceat(s2[:, order], bounds, axis=1)
            results[f"dense-prf m={m} a={alpha}"] = score(fuse(d2, lex))
            for beta in (0.1, 0.3):
                lex2 = _rm3(lexical, lex, top, terms_of, by_doc, doc_ptr, qterms, beta)
                results[f"both m={m} a={alpha} b={beta}"] = score(fuse(d2, lex2))
        for beta in (0.1, 0.3, 0.5):
            lex2 = _rm3(lexical, lex, top, terms_of, by_doc, doc_ptr, qterms, beta)
            results[f"lex-prf m={m} b={beta}"] = score(fuse(dmax, lex2))
        print(f"m={m} done", flush=True)
    for name, value in sorted(results.items(), key=lambda kv: -kv[1])[:20]:
        print(f"{value:.4f}  {name}")


def _rm3(lexical, lex, top, terms_of, by_doc, doc_ptr, qterms, beta, n_terms: int = 10):  # type: ignore[no-untyped-def]
    out = lex.copy()
    for i, docs in enumerate(top):
        weight: dict[int, float] = {}
        for d in docs:
            nz = by_doc[doc_ptr[d] : doc_ptr[d + 1]]
            for t, v in zip(terms_of[nz], lexical.data[nz], strict=True):
                weight[int(t)] = weight.get(int(t), 0.0) + float(v)
        have = {lexical.term_ids.get(t) for t in qterms[i]}
        chosen = sorted((t for t in weight if t not in have), key=lambda t: -weight[t])[:n_terms]
        if not chosen:
            continue
        total = sum(weight[t] for t in chosen)
        extra = np.zeros(lexical.n_docs, dtype=np.float32)
        for t in chosen:
            start, end = lexical.indptr[t], lexical.indptr[t + 1]
            np.add.at(
                extra, lexical.indices[start:end], lexical.data[start:end] * weight[t] / total
            )
        out[i] = lex[i] + beta * extra * (lex[i].max() / max(extra.max(), 1e-9))
    return out


def _bigrams(tokens: list[str]) -> list[str]:
    return [f"{a}_{b}" for a, b in itertools.pairwise(tokens)]


def _features(score, retriever, texts, qterms, dense_max, dense_mean) -> None:  # type: ignore[no-untyped-def]
    """Try lexical features beside BM25: bigrams, title-only BM25, IDF coverage."""
    from rag.index.catalog import lexical_doc
    from rag.index.lexical import tokenize

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
            for j in (
                retriever.lexical.indices[
                    retriever.lexical.indptr[
                        retriever.lexical.term_ids[t]
                    ] : retriever.lexical.indptr[retriever.lexical.term_ids[t] + 1]
                ]
                if t in retriever.lexical.term_ids
                else []
            ):
                cov[i, j] += wt / total
    print(
        f"bigram alone {score(bi):.4f}  title alone {score(title):.4f}  "
        f"coverage alone {score(cov):.4f}"
    )
    d = _minmax_top(dense_max + 0.2 * dense_mean)
    d0 = _minmax_top(dense_max)

    def norm(m: Scores) -> Scores:
        return m / np.maximum(m.max(axis=1, keepdims=True), 1e-9)

    ln, bn, tn = norm(lex), norm(bi), norm(title)
    print(f"current-like {score(0.45 * d0 + 0.55 * ln):.4f}")
    results = {}
    for wd, wb, wt, wc in itertools.product(
        (0.4, 0.5), (0, 0.1, 0.2, 0.3), (0, 0.1, 0.2), (0, 0.2, 0.4)
    ):
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
