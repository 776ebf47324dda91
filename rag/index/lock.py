"""The data folder's ingest lock (filelock): one writer at a time, released when it dies."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from rag.config import Settings
from rag.index.store import StoreError


@contextmanager
def ingest_lock(settings: Settings) -> Iterator[None]:
    """Hold an exclusive lock on the data dir so two ingests never interleave.

    Raises StoreError at once (never waits) when another process holds it; the holder's pid
    is written into the lock file so that error can name it.
    """
    from filelock import FileLock, Timeout

    path = settings.data_dir / "ingest.lock"
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(path)
        lock.acquire(blocking=False)
    except Timeout:
        holder = _read(path) or "another process"
        raise StoreError(
            f"another ingest is running ({holder}); wait for it to finish and run this again"
        ) from None
    except OSError as exc:
        raise StoreError(
            f"cannot use {settings.data_dir} as the data folder ({exc.strerror or exc}); it must "
            "be a writable folder: move the file away or set PAPERCHAT_DATA_DIR elsewhere"
        ) from None
    try:
        path.write_text(f"pid {os.getpid()}", "utf-8")  # filelock keeps the holder's contents
        yield
    finally:
        lock.release()


def ingest_holder(settings: Settings) -> str | None:
    """Who holds the data dir's ingest lock ("pid 123"), or None when no ingest runs.

    For readers (the served UI) to tell an ingest is under way. A shared flock is tried
    without waiting and let go at once: readers never see each other, only the exclusive lock
    an ingest holds (filelock's flock). Without flock (Windows) this cannot tell: None.
    """
    try:
        import fcntl
    except ImportError:
        return None
    path = settings.data_dir / "ingest.lock"
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None  # no lock file: no ingest ever ran here
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read(path) or "another process"
    except OSError:
        return None  # a file system without flock: as without fcntl
    finally:
        os.close(fd)  # releases the shared lock
    return None


def _read(path: os.PathLike[str]) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return ""
