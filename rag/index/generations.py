"""The writing bracket: the catalog kept in step with the collection by a generation stamp.

An ingest that changes anything first removes the catalog and stamps the collection
"pending-..." (its first write), and after its last write stamps a new generation and saves a
catalog carrying it: updated from the one before it (`Delta`), or read back from Chroma.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rag.config import Settings
from rag.index import catalog
from rag.index.store import PENDING, count, generation, set_generation
from rag.records import Paper

if TYPE_CHECKING:
    from rag.index.store import Collection

DELTA_LIMIT = 20_000  # changed papers kept to update the catalog; past that it is re-read


@dataclass
class Delta:
    """What an ingest changed, for updating the catalog it started from (if it had one).

    Past DELTA_LIMIT changed papers it lets go of the base and the changes (memory stays
    bounded) and the catalog is read back from Chroma at the end instead.
    """

    base: catalog.Catalog | None
    removed: set[str] = field(default_factory=set)
    changed: list[tuple[Paper, list[str] | None]] = field(default_factory=list)

    def add(self, changed: list[tuple[Paper, list[str] | None]]) -> None:
        """Record papers written or relabelled (with their chunk texts when written)."""
        if self.base is None:
            return
        self.changed += changed
        if len(self.changed) > DELTA_LIMIT:
            self.base, self.changed = None, []


def current_catalog(settings: Settings, collection: Collection) -> catalog.Catalog | None:
    """The saved catalog, if it describes the collection as it is now."""
    stamp = generation(collection)
    if not stamp or stamp.startswith(PENDING):
        return None
    return catalog.read(catalog.path_for(settings), stamp)


@contextmanager
def writing(
    settings: Settings,
    collection: Collection,
    delta: Delta | None = None,
    progress: catalog.ReadProgress | None = None,
) -> Iterator[None]:
    """Bracket writes to the collection so that no stale catalog survives them.

    Before: remove the catalog, then stamp the collection "pending" (the first write).
    After the last write: stamp a new generation and save the catalog — updated from the
    one before when the writer recorded its `delta`, else read back from Chroma. An
    exception in between leaves no catalog, and readers fall back to Chroma.
    """
    catalog.path_for(settings).unlink(missing_ok=True)
    set_generation(collection, PENDING + uuid.uuid4().hex)
    yield
    publish_catalog(settings, collection, delta, progress)


def publish_catalog(
    settings: Settings,
    collection: Collection,
    delta: Delta | None = None,
    progress: catalog.ReadProgress | None = None,
) -> None:
    """Stamp a new generation and save the catalog of what the collection now holds."""
    stamp = uuid.uuid4().hex
    set_generation(collection, stamp)
    path = catalog.path_for(settings)
    built = None
    if delta is not None and delta.base is not None:
        built = catalog.updated(delta.base, stamp, count(collection), delta.removed, delta.changed)
    if built is None:
        catalog.rebuild(collection, stamp, path, progress)
    else:
        catalog.save(built, path)
