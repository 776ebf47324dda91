"""The catalog's folder format (format 3): write a catalog into a new folder, read one back."""

from __future__ import annotations

import json
import mmap
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.index.catalog.model import Catalog, lexical_doc, lexical_version
from rag.index.catalog.postings import IndexBuilder, PaperIndex
from rag.index.catalog.publish import clean, current_folder, publish
from rag.index.catalog.rows import MergedRows, PaperTable, TextsView, encode
from rag.records import Paper

if TYPE_CHECKING:
    from rag.index.lexical import LexicalIndex

FORMAT = 3  # 3: a folder of memory-mapped files; formats 1-2 (one zip) are rebuilt
HEADER = "header.json"
MATRIX = ("counts", "indices", "indptr", "doc_len", "scores")  # BM25, column-wise


def save(built: Catalog, path: Path) -> None:
    """Write a catalog and make it the current one at `path`."""
    publish(write(built, path), path)


def write(catalog: Catalog, path: Path) -> Path:
    """Write the catalog into a new folder beside `path`; return a pointer file naming it.

    The caller publishes it with `publish` (or drops it with `discard`), so readers see the
    old catalog or the new one, never a part of either.
    """
    lexical, index = catalog.lexical, catalog.index
    assert lexical is not None
    if isinstance(catalog.papers, MergedRows):
        rows = catalog.papers.encoded()
    else:
        rows = ((p.id, encode(p, t)) for p, t in zip(catalog.papers, catalog.texts, strict=True))
    header = _header(catalog.stamp, catalog.embedder, catalog.chunking, catalog.stored_chunks)
    return _write(path, header, rows, lambda: (lexical, index))


def write_rows(
    rows: Iterable[tuple[Paper, list[str]]],
    path: Path,
    stamp: str | None,
    embedder: str,
    chunking: str,
    stored_chunks: int,
) -> Path:
    """Write a catalog from papers sorted by id, streamed (tokenized here); see `write`."""
    from rag.index.lexical import TermCounter

    builder, counter = IndexBuilder(), TermCounter()

    def encoded() -> Iterator[tuple[str, bytes]]:
        for paper, texts in rows:
            builder.add(paper, len(texts))
            counter.add(lexical_doc(paper))
            yield paper.id, encode(paper, texts)

    header = _header(stamp, embedder, chunking, stored_chunks)
    return _write(path, header, encoded(), lambda: (counter.index(), builder.build()))


def _header(stamp: str | None, embedder: str, chunking: str, stored_chunks: int) -> dict[str, Any]:
    from rag.index.lexical import TOKENIZER

    return {
        "format": FORMAT,
        "tokenizer": TOKENIZER,
        "lexical": lexical_version(),
        "stamp": stamp,
        "embedder": embedder,
        "chunking": chunking,
        "stored_chunks": stored_chunks,
    }


def _write(
    path: Path,
    header: dict[str, Any],
    rows: Iterable[tuple[str, bytes]],
    finish: Callable[[], tuple[LexicalIndex, PaperIndex]],
) -> Path:
    """Write (paper id, stored row) pairs in id order, then what `finish` gives once they are."""
    path.parent.mkdir(parents=True, exist_ok=True)
    clean(path)
    folder = path.with_name(f"{path.stem}.{uuid.uuid4().hex[:12]}")
    folder.mkdir()
    (folder / ".writing").touch()
    try:
        offsets = [0]
        last = ""
        with (folder / "rows.bin").open("wb") as blob:
            for pid, data in rows:
                if pid <= last:
                    raise ValueError("catalog rows must be sorted by paper id, without repeats")
                last = pid
                blob.write(data)
                offsets.append(offsets[-1] + len(data))
        lexical, index = finish()
        np.save(folder / "rows.npy", np.array(offsets, dtype=np.int64))
        _save_index(folder, index)
        _dump(folder / "vocab.json", list(lexical.vocab))
        for name in MATRIX:
            np.save(folder / f"{name}.npy", _array(lexical, name))
        _dump(folder / HEADER, {**header, "papers": len(offsets) - 1, "n_docs": lexical.n_docs})
        for f in folder.iterdir():
            with f.open("rb") as handle:
                os.fsync(handle.fileno())
        (folder / ".writing").unlink()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    pointer = path.with_name(f".tmp-{folder.name}.json")
    pointer.write_text(json.dumps({"folder": folder.name}))
    return pointer


def _save_index(folder: Path, index: PaperIndex) -> None:
    np.save(folder / "ids.npy", index.ids)
    np.save(folder / "years.npy", index.years)
    np.save(folder / "chunks.npy", index.n_chunks)
    _dump(folder / "authors.json", [index.author_keys, index.author_names])
    np.save(folder / "author_ptr.npy", index.author_ptr)
    np.save(folder / "author_idx.npy", index.author_idx)
    _dump(folder / "sources.json", index.sources)
    np.save(folder / "source_ptr.npy", index.source_ptr)
    np.save(folder / "source_idx.npy", index.source_idx)


def _dump(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")


def _read_header(folder: Path) -> dict[str, Any] | None:
    try:
        header: dict[str, Any] = json.loads((folder / HEADER).read_text())
    except (OSError, ValueError):
        return None
    return header if header.get("format") == FORMAT else None


def _map(path: Path) -> np.ndarray:
    return np.load(path, mmap_mode="r", allow_pickle=False)  # type: ignore[no-any-return]


def read(path: Path, stamp: str | None = None, lexical: bool = True) -> Catalog | None:
    """Open a catalog; None when it is missing, unreadable, or (given `stamp`) stale."""
    folder = current_folder(path)
    header = _read_header(folder) if folder else None
    if folder is None or header is None or (stamp is not None and header["stamp"] != stamp):
        return None
    try:
        offsets = np.load(folder / "rows.npy", allow_pickle=False)
        with (folder / "rows.bin").open("rb") as handle:
            blob: bytes | mmap.mmap = (
                mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if offsets[-1] else b""
            )
        table = PaperTable(blob, offsets)
        keys, names = json.loads((folder / "authors.json").read_text(encoding="utf-8"))
        index = PaperIndex(
            _map(folder / "ids.npy"),
            _map(folder / "years.npy"),
            np.load(folder / "chunks.npy"),
            keys,
            names,
            _map(folder / "author_ptr.npy"),
            _map(folder / "author_idx.npy"),
            json.loads((folder / "sources.json").read_text(encoding="utf-8")),
            _map(folder / "source_ptr.npy"),
            _map(folder / "source_idx.npy"),
        )
        found = None
        if (
            lexical
            and header.get("tokenizer") == _tokenizer()
            and (header.get("lexical") == lexical_version())
        ):
            found = _read_lexical(folder)
        if lexical and found is None:  # saved by another version: re-index, Chroma not needed
            from rag.index.lexical import LexicalIndex

            found = LexicalIndex.build(lexical_doc(p) for p in table)
        return Catalog(
            header["stamp"],
            header["embedder"],
            header["chunking"],
            header["stored_chunks"],
            table,
            TextsView(table),
            found,
            index,
        )
    except (OSError, KeyError, ValueError, TypeError):
        return None


def _tokenizer() -> str:
    from rag.index.lexical import TOKENIZER

    return TOKENIZER


def read_stamp(path: Path) -> str | None:
    """The generation stamp of the catalog at `path`, or None when there is none."""
    folder = current_folder(path)
    header = _read_header(folder) if folder else None
    stamp = header.get("stamp") if header else None
    return str(stamp) if stamp else None


def _array(lexical: LexicalIndex, name: str) -> Any:
    value = getattr(lexical, "data" if name == "scores" else name)
    assert value is not None, "a LexicalIndex saved by the catalog keeps its counts"
    return value


def _read_lexical(folder: Path) -> LexicalIndex:
    from rag.index.lexical import LexicalIndex

    arrays = {name: _map(folder / f"{name}.npy") for name in MATRIX}
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    return LexicalIndex(
        vocab,
        arrays["scores"],
        arrays["indices"],
        arrays["indptr"],
        len(arrays["doc_len"]),
        arrays["counts"],
        arrays["doc_len"],
    )
