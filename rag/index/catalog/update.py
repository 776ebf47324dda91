"""The catalog after an ingest, from the one before it and what the ingest changed."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from rag.index.catalog.model import Catalog, lexical_doc
from rag.index.catalog.postings import IndexBuilder, PaperIndex, Postings
from rag.index.catalog.rows import MergedRows, TextsView
from rag.records import Paper


def updated(
    base: Catalog,
    stamp: str,
    stored_chunks: int,
    removed: set[str],
    changed: list[tuple[Paper, list[str] | None]],
) -> Catalog | None:
    """The catalog after an ingest, from the one before it and what the ingest changed.

    `removed` are paper ids no longer in the collection; `changed` are papers written or
    relabelled, with their chunk texts (None: unchanged texts, taken from `base`). Only the
    new texts are tokenized. None when `base` cannot be updated (no term counts).
    """
    from rag.index.lexical import tokenize

    if base.lexical is None or base.lexical.counts is None:
        return None
    position = {i.decode(): n for n, i in enumerate(base.index.ids.tolist())}
    rows: dict[str, tuple[Paper, list[str]] | int] = dict(position)  # int: unchanged base row
    fresh: set[str] = set()  # new texts: tokenized again
    for paper, texts in changed:
        if texts is None:  # relabelled: metadata from the ingest, texts (and BM25) kept
            texts = base.texts[position[paper.id]]
            paper = replace(paper, abstract=" ".join(texts))
        else:
            fresh.add(paper.id)
        rows[paper.id] = (paper, texts)
    for pid in removed:
        rows.pop(pid, None)
    order = sorted(rows)
    new_position = {pid: i for i, pid in enumerate(order)}
    kept = np.full(len(position), -1, dtype=np.int64)  # BM25: old document -> new one
    unchanged = kept.copy()  # rows and postings: old row -> new row
    for pid, old in position.items():
        if pid in new_position and pid not in fresh:
            kept[old] = new_position[pid]
            if isinstance(rows[pid], int):
                unchanged[old] = new_position[pid]
    entries = [rows[pid] for pid in order]
    written = [(new_position[pid], row) for pid, row in rows.items() if not isinstance(row, int)]
    added = {new_position[pid]: tokenize(lexical_doc(rows[pid][0])) for pid in fresh}  # type: ignore[index]
    papers = MergedRows(base, entries)
    return Catalog(
        stamp,
        base.embedder,
        base.chunking,
        stored_chunks,
        papers,
        TextsView(papers),
        base.lexical.updated(kept, added, len(order)),
        _remapped(base.index, unchanged, len(order), written),
    )


def _remapped(
    index: PaperIndex,
    unchanged: np.ndarray,
    n: int,
    written: list[tuple[int, tuple[Paper, list[str]]]],
) -> PaperIndex:
    """The index of an updated catalog: unchanged rows moved (`unchanged[old]` = new row or
    -1), the written papers' entries added at their new rows; same as building it anew."""
    moved = unchanged >= 0
    width = max([index.ids.dtype.itemsize] + [len(p.id.encode()) for _, (p, _) in written])
    ids = np.zeros(n, dtype=f"S{width}")
    years = np.zeros(n, dtype=np.int16)
    n_chunks = np.zeros(n, dtype=np.int32)
    ids[unchanged[moved]] = index.ids[moved]
    years[unchanged[moved]] = index.years[moved]
    n_chunks[unchanged[moved]] = index.n_chunks[moved]
    builder = IndexBuilder(
        Postings.moved(
            index.author_keys, index.author_names, index.author_ptr, index.author_idx, unchanged
        ),
        Postings.moved(index.sources, index.sources, index.source_ptr, index.source_idx, unchanged),
    )
    for row, (paper, texts) in written:
        ids[row], years[row], n_chunks[row] = paper.id.encode(), paper.year or 0, len(texts)
        builder.put(row, paper)
    return builder.finish(ids, years, n_chunks)
