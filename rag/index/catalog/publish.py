"""The pointer file naming a key's current catalog folder: publish, discard, clean up."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from rag.config import Settings

STALE_WRITE_S = 3600  # an unfinished folder older than this is a crashed writer's


def path_for(settings: Settings) -> Path:
    """The pointer file naming the catalog of the configured store location and collection."""
    key = f"{settings.store_location()}\0{settings.collection}".encode()
    return settings.data_dir / "catalog" / f"{hashlib.sha1(key).hexdigest()[:16]}.json"


def publish(pointer: Path, path: Path) -> None:
    """Make the catalog a `write` returned current, then remove the one it replaces."""
    os.replace(pointer, path)
    clean(path)


def discard(pointer: Path) -> None:
    """Drop a written catalog that was not published (no-op once it was)."""
    if not pointer.exists():
        return
    try:
        folder = json.loads(pointer.read_text())["folder"]
        shutil.rmtree(pointer.with_name(folder), ignore_errors=True)
    except (OSError, ValueError, KeyError):
        pass
    pointer.unlink(missing_ok=True)


def clean(path: Path) -> None:
    """Remove this key's folders that the pointer does not name (superseded or crashed).

    A folder still being written (`.writing`), or written and awaiting `publish` or `discard`,
    is kept unless that began more than STALE_WRITE_S ago.
    Readers that mapped a removed folder's files keep reading them until they close.
    """
    current = current_folder(path)
    for folder in path.parent.glob(f"{path.stem}.*"):
        if not folder.is_dir() or folder == current:
            continue
        # being written, or written and not yet published (its pointer is `.tmp-<folder>.json`)
        markers = (folder / ".writing", path.with_name(f".tmp-{folder.name}.json"))
        try:
            if any(m.exists() and time.time() - m.stat().st_mtime < STALE_WRITE_S for m in markers):
                continue
        except OSError:
            continue
        shutil.rmtree(folder, ignore_errors=True)
    old = path.with_suffix(".zip")  # formats 1-2
    old.unlink(missing_ok=True)


def current_folder(path: Path) -> Path | None:
    """The folder the pointer file at `path` names, if it names one."""
    try:
        return path.with_name(json.loads(path.read_text())["folder"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
