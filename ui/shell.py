"""What every command-line shell shares: consoles, settings, the one `error:` line.

`ui.cli` builds the `paperchat` command from these; the commands that other packages add
to it (`serve` from ui, `eval` from eval; see `ui.cli.register_commands`) use them too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

from rag import BACKENDS, Settings

if TYPE_CHECKING:
    from rag import IngestProgress

DRAFT_EVERY = 0.15  # seconds between redraws of a streaming answer (CLI and web UI)


class Redraws:
    """Paces the redraws of a streaming draft: one per DRAFT_EVERY seconds at most (a redraw
    per word took the CPU a local model on the same machine needs)."""

    def __init__(self) -> None:
        self.last = -DRAFT_EVERY

    def due(self) -> bool:
        """Tell whether to redraw now (and count it as done)."""
        now = time.monotonic()
        if now - self.last < DRAFT_EVERY:
            return False
        self.last = now
        return True


out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

K_RANGE = (1, 50)


def _check_k(value: int | None) -> int | None:
    """One `error:` line naming the range (exit 2, a usage error) for an out-of-range --k."""
    low, high = K_RANGE
    if value is not None and not low <= value <= high:
        fail(f"--k must be between {low} and {high} (got {value})", 2)
    return value


K = Annotated[
    int | None,
    typer.Option(
        "--k",
        "-k",
        callback=_check_k,
        help=f"Papers to retrieve, {K_RANGE[0]}-{K_RANGE[1]} (default: PAPERCHAT_TOP_K).",
    ),
]
BACKEND = Annotated[
    str | None,
    typer.Option(help=f"{' | '.join(BACKENDS)} (default: PAPERCHAT_BACKEND)."),
]
JSON = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of text.")]


def error(message: str) -> None:
    """Print one red `error:` line on stderr (the message is shown as text, not markup)."""
    from rich.markup import escape

    from rag import one_line

    err.print(f"[red]error:[/red] {escape(one_line(message, 2000))}")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print the error line and leave with `code`."""
    error(message)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the library's expected failures into one red line and exit code 1."""
    from pydantic import ValidationError

    from rag import PaperchatError

    try:
        yield
    except PaperchatError as exc:
        fail(str(exc))
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"bad setting {'.'.join(map(str, first['loc']))}: {first['msg']}")
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None


# What the global options (`paperchat --data-dir D --collection C ...`) set for this run; they
# win over PAPERCHAT_* variables and .env.
OVERRIDES: dict[str, Any] = {}


def settings() -> Settings:
    """Build the settings once per command."""
    with user_errors():
        built = Settings(**OVERRIDES)
        if "collection" not in built.model_fields_set:  # no flag, variable or .env line
            from rag import collections

            picked = collections.chosen(built)
            if picked:
                built = built.model_copy(update={"collection": picked})
    legacy_notice(built)
    return built


def legacy_notice(s: Settings) -> None:
    """Tell once (per old folder) where the index went when ./.paperchat holds an old one."""
    from pathlib import Path

    from rag import LEGACY_DATA_DIR

    old = Path.cwd() / LEGACY_DATA_DIR
    told = old / ".paperchat-moved-notice"
    if not (old / "chroma").is_dir() or told.exists():
        return
    if s.chroma_host is None and old.resolve() == s.data_dir.expanduser().resolve():
        return
    err.print(
        f"[yellow]note:[/yellow] {old} holds an index from an earlier paperchat; the index now "
        f"lives in {s.data_dir} whichever folder you are in. Use the old one with "
        f"`paperchat --data-dir {LEGACY_DATA_DIR} ...` (or PAPERCHAT_DATA_DIR={old}), or move "
        f"it: mkdir -p {s.data_dir} && mv {old}/* {s.data_dir}/  (said once)",
        markup=True,
        highlight=False,
    )
    with suppress(OSError):
        told.write_text("told\n")


def check_backend(backend: str | None) -> None:
    """Leave with a usage error (exit 2) unless `backend` is unset or one paperchat knows."""
    if backend and backend not in BACKENDS:
        fail(f"unknown backend {backend!r}: use {', '.join(BACKENDS)}", 2)


@contextmanager
def ingest_progress(enabled: bool = True) -> Iterator[Callable[[IngestProgress], None]]:
    """A progress bar for `rag.Library.ingest`: share of the input bytes read, papers/s, ETA.

    Files stream, so the number of papers is not known in advance; the bar and its ETA
    follow the bytes read (a batch's bytes count as its chunks are written).
    """
    from rich.progress import DownloadColumn, TaskProgressColumn, TextColumn

    bar = _bar(
        "ingest",
        enabled,
        TaskProgressColumn(),
        DownloadColumn(binary_units=True),
        TextColumn("{task.fields[rate]}"),
    )
    task = bar.add_task("ingest", total=None, rate="")
    started = time.perf_counter()
    back = _ReadBack(enabled)

    def update(p: IngestProgress) -> None:
        if p.catalog_chunks is not None:  # the files are done; the catalog is read back
            if back.task is None:
                bar.stop()
            back(*p.catalog_chunks)
            return
        rate = p.papers / max(time.perf_counter() - started, 1e-9)
        rate_text = f"{p.papers:,} papers {rate:,.1f}/s"
        bar.update(task, completed=p.bytes_read, total=p.bytes_total, rate=rate_text)

    with bar:
        try:
            yield update
        finally:
            back.close()


def _bar(label: str, enabled: bool, *middle: Any) -> Any:
    """A transient stderr progress bar: label, bar, the `middle` columns, elapsed time, ETA."""
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn(label),
        BarColumn(bar_width=20),
        *middle,
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not enabled,
    )


class _ReadBack:
    """A bar for reading a collection back from Chroma into a local catalog, shown only once
    that starts (a first start against a shared server, the end of a large ingest)."""

    def __init__(self, enabled: bool) -> None:
        from rich.progress import MofNCompleteColumn, TextColumn

        self.bar = _bar(
            "reading the index from Chroma for the local catalog",
            enabled,
            MofNCompleteColumn(),
            TextColumn("chunks"),
        )
        self.task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task("read", total=total)
        self.bar.update(self.task, completed=done, total=total)

    def close(self) -> None:
        if self.task is not None:
            self.bar.stop()


@contextmanager
def readback_progress(enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """The progress callback for `PaperChat(..., progress=)`: a bar while a collection is
    read back from Chroma (nothing when the saved catalog is current)."""
    back = _ReadBack(enabled)
    try:
        yield back
    finally:
        back.close()


def to_json(obj: Any) -> str:
    """Indented JSON for --json output (dates and paths as strings)."""
    return json.dumps(obj, indent=2, ensure_ascii=False, default=str)
