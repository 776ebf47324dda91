"""`paperchat collections ...`: list, create, use, rename and delete named collections."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from ui.shell import JSON, err, out, settings, to_json, user_errors

app = typer.Typer(
    help="Named collections (one per project): each is its own Chroma collection and catalog. "
    "Pick one per command with `paperchat --collection NAME ...`, or for every later command "
    "with `paperchat collections use NAME`.",
    no_args_is_help=True,
)

NAME = Annotated[str, typer.Argument(help="Collection name (3-63 letters, digits, . _ -).")]


@app.command("list")
def list_(as_json: JSON = False) -> None:
    """List the collections in the store: chunks, embedder, which one is in use (*)."""
    from rag import collections

    s = settings()
    with user_errors():
        found = collections.list_collections(s)
    if as_json:
        out.print_json(
            to_json({"current": s.collection, "collections": [asdict(c) for c in found]})
        )
        return
    if not found:
        err.print(f"no collections in {s.store_location()}; `paperchat demo` or `ingest` makes one")
    for c in found:
        mark = "*" if c.current else " "
        out.print(f"{mark} {c.name}  [dim]{c.chunks} chunks, {c.embedder}[/dim]")


@app.command()
def create(name: NAME) -> None:
    """Create an empty collection (then `paperchat --collection NAME ingest PATH...`)."""
    from rag import collections

    s = settings()
    with user_errors():
        collections.create(s, name)
    out.print(f"created collection {name}")


@app.command()
def use(name: NAME) -> None:
    """Make NAME the collection later commands use (unless --collection or
    PAPERCHAT_COLLECTION says otherwise)."""
    from rag import collections

    s = settings()
    with user_errors():
        collections.use(s, name)
    out.print(f"now using collection {name}")


@app.command()
def rename(old: NAME, new: NAME) -> None:
    """Rename a collection (its papers stay; the others are untouched)."""
    from rag import collections

    s = settings()
    with user_errors():
        collections.rename(s, old, new)
    out.print(f"renamed collection {old} to {new}")


@app.command()
def delete(
    name: NAME,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
) -> None:
    """Delete a collection and its catalog, after confirmation (the others are untouched)."""
    from rag import collections

    s = settings()
    if not yes:
        import sys

        if not sys.stdin.isatty():
            err.print(f"[red]error:[/red] deleting {name} needs confirmation: add --yes")
            raise typer.Exit(2)
        typer.confirm(f"Delete collection {name!r} and everything indexed in it?", abort=True)
    with user_errors():
        collections.delete(s, name)
    out.print(f"deleted collection {name}")
