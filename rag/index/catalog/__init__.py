"""The catalog: the papers, chunk texts and BM25 matrix of an index, saved beside it.

Reading every chunk back from Chroma and tokenizing every abstract made each process's cold
load grow with the collection (96 s at 100k papers). Ingest therefore saves what the retriever
and `papers`/`stats` need under `data_dir/catalog/` (one per store location and collection).

Format 3 is a folder of flat files that a reader maps into memory instead of parsing, so
opening a catalog costs about the same at a million papers as at a hundred, and only the
pages a query touches become resident:

- `header.json`: format, generation stamp, embedder, chunking, counts;
- `rows.bin` + `rows.npy`: one JSON row per paper (sorted by id) and the row offsets; a
  `Paper` is decoded only when it is used (`PaperTable`);
- `ids.npy`, `years.npy`, `chunks.npy`: fixed-width paper ids (binary search), years,
  chunks per paper;
- `authors.json` + `author_ptr.npy`/`author_idx.npy`, `sources.json` + `source_*.npy`: the
  distinct folded author names and source files with their papers (CSR), for filters and
  author questions;
- `vocab.json` + `counts/indices/indptr/doc_len/scores.npy`: the BM25 matrix (CSC).

A file `<key>.json` beside the folders names the current one; writers make a new folder and
swap that pointer with `os.replace`, so a reader sees the old catalog or the new one. The
header carries a generation stamp that ingest also writes into the collection metadata (see
`rag.index.writer`); a catalog is only used while the two agree. A reader that finds none current
builds one from Chroma and saves it for the next process (`load`). Reading the papers needs
neither chromadb nor anything but NumPy.

The package's parts, one job each: `rows` (lazy row views and the row encoding), `postings`
(the per-paper arrays and author/source postings), `model` (the `Catalog` record and what the
BM25 text of a paper is), `files` (the folder format: write and read back), `publish` (the
pointer file: publish, discard, clean up), `update` (the catalog after an ingest, from the
one before it) and `readback` (building it from Chroma, and `contents` for papers/stats).
"""

from __future__ import annotations

from rag.index.catalog.files import (
    FORMAT,
    HEADER,
    MATRIX,
    read,
    read_stamp,
    save,
    write,
    write_rows,
)
from rag.index.catalog.model import (
    LEXICAL_DOC,
    Catalog,
    ReadProgress,
    in_memory,
    lexical_doc,
    lexical_version,
)
from rag.index.catalog.postings import PaperIndex
from rag.index.catalog.publish import (
    STALE_WRITE_S,
    current_folder,
    discard,
    path_for,
    publish,
)
from rag.index.catalog.readback import Contents, contents, from_collection, load, rebuild
from rag.index.catalog.rows import MergedRows, PaperTable, TextsView
from rag.index.catalog.update import updated

__all__ = [
    "FORMAT",
    "HEADER",
    "LEXICAL_DOC",
    "MATRIX",
    "STALE_WRITE_S",
    "Catalog",
    "Contents",
    "MergedRows",
    "PaperIndex",
    "PaperTable",
    "ReadProgress",
    "TextsView",
    "contents",
    "current_folder",
    "discard",
    "from_collection",
    "in_memory",
    "lexical_doc",
    "lexical_version",
    "load",
    "path_for",
    "publish",
    "read",
    "read_stamp",
    "rebuild",
    "save",
    "updated",
    "write",
    "write_rows",
]
