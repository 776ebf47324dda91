"""Named collections: one Chroma collection and one catalog each, in one store.

A researcher keeps one collection per project (a thesis, a review, a reading group). Each is
its own Chroma collection (embedded or on a Chroma server) with its own local catalog
(`rag.index.catalog.path_for` keys on store location + collection), so ingesting into,
renaming or deleting one leaves the others untouched. The collection a command uses comes from
`--collection`, else PAPERCHAT_COLLECTION, else the one `paperchat collections use` chose
(remembered in `data_dir/current-collection`), else "paperchat".
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from rag.config import Settings
from rag.errors import PaperchatError

CURRENT_FILE = "current-collection"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$")  # Chroma's rules, shortened


class CollectionError(PaperchatError):
    """A collection cannot be created, found, renamed or deleted as asked."""


@dataclass(frozen=True)
class CollectionInfo:
    """One collection of the store: its name, size and how it was built."""

    name: str
    chunks: int
    embedder: str
    current: bool


def check_name(name: str) -> str:
    """Return the name, or raise CollectionError saying what a name may hold."""
    if not NAME.match(name) or ".." in name:
        raise CollectionError(
            f"bad collection name {name!r}: use 3-63 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return name


def _with(settings: Settings, name: str) -> Settings:
    return settings.model_copy(update={"collection": name})


def current_file(settings: Settings) -> Path:
    """The file that remembers the collection `paperchat collections use` chose."""
    return settings.data_dir / CURRENT_FILE


def chosen(settings: Settings) -> str | None:
    """The collection `use` chose, if any."""
    try:
        name = current_file(settings).read_text("utf-8").strip()
    except OSError:
        return None
    return name or None


def list_collections(settings: Settings) -> list[CollectionInfo]:
    """Every paperchat collection in the store, with its chunk count and embedder."""
    from rag.index.store import _client, collection_names

    names = collection_names(settings)
    if not names:
        return []
    client = _client(settings)
    found = []
    for name in names:
        collection = client.get_collection(name, embedding_function=None)
        meta = collection.metadata or {}
        found.append(
            CollectionInfo(
                name=name,
                chunks=collection.count(),
                embedder=str(meta.get("embedder", "")),
                current=name == settings.collection,
            )
        )
    return found


def _exists(settings: Settings, name: str) -> bool:
    from rag.index.store import collection_names

    return name in collection_names(settings)


def create(settings: Settings, name: str) -> None:
    """Create an empty collection (built with the configured embedder and chunking)."""
    from rag.index.store import open_collection

    if _exists(settings, check_name(name)):
        raise CollectionError(f"a collection {name!r} already exists")
    open_collection(_with(settings, name), create=True)


def use(settings: Settings, name: str) -> None:
    """Make `name` the collection later commands use (when no flag or variable says)."""
    if not _exists(settings, check_name(name)):
        raise CollectionError(
            f"no collection {name!r} in {settings.store_location()}; "
            f"create it with `paperchat collections create {name}`"
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    current_file(settings).write_text(name + "\n", "utf-8")


def _forget_catalog(settings: Settings) -> None:
    """Remove the local catalog of the configured collection (pointer and its folders)."""
    from rag.index.catalog import discard, path_for

    pointer = path_for(settings)
    discard(pointer)
    for folder in pointer.parent.glob(f"{pointer.stem}.*"):
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)


def rename(settings: Settings, old: str, new: str) -> None:
    """Rename a collection; its catalog is read back from Chroma under the new name."""
    from rag.index.lock import ingest_lock
    from rag.index.store import _client

    if not _exists(settings, check_name(old)):
        raise CollectionError(f"no collection {old!r} in {settings.store_location()}")
    if _exists(settings, check_name(new)):
        raise CollectionError(f"a collection {new!r} already exists")
    with ingest_lock(_with(settings, old)):
        _client(settings).get_collection(old, embedding_function=None).modify(name=new)
        _forget_catalog(_with(settings, old))
    if chosen(settings) == old:
        current_file(settings).write_text(new + "\n", "utf-8")


def delete(settings: Settings, name: str) -> None:
    """Delete a collection and its catalog; the others are untouched."""
    from rag.index.lock import ingest_lock
    from rag.index.store import drop_collection

    if not _exists(settings, check_name(name)):
        raise CollectionError(f"no collection {name!r} in {settings.store_location()}")
    target = _with(settings, name)
    with ingest_lock(target):
        drop_collection(target)
        _forget_catalog(target)
    if chosen(settings) == name:
        current_file(settings).unlink(missing_ok=True)
