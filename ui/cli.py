"""`paperchat` command line: a thin shell over the rag library (typer + rich).

The library commands live here; other packages add theirs through the `paperchat.commands`
entry-point group (name = command, object = a typer command function), the way ui adds
`serve` and eval adds `eval`. So this module never imports the shells above the library.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rag import author_list
from ui.collections_cli import app as collections_app
from ui.shell import (
    BACKEND,
    JSON,
    OVERRIDES,
    K,
    Redraws,
    check_backend,
    err,
    fail,
    ingest_progress,
    out,
    readback_progress,
    settings,
    to_json,
    user_errors,
)

if TYPE_CHECKING:
    from rag import Answer, Filters, Library, Settings

COMMANDS = "paperchat.commands"  # the entry-point group other packages register commands in

app = typer.Typer(
    help="Ask questions about a collection of paper abstracts and get cited answers.\n\n"
    "Exit codes: 0 done; 1 an error, said in one `error:` line; 2 a bad "
    "option or argument (e.g. --k out of range); 3 ingest skipped something (each file or "
    "record on one `warning:` line; what was read is indexed) or found no file to read; "
    "130 interrupted.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

AUTHOR = Annotated[
    str | None, typer.Option(help="Only papers with an author whose name contains this.")
]
SOURCE = Annotated[
    str | None,
    typer.Option(help="Only papers read from a source file whose name contains this."),
]
SINCE = Annotated[int | None, typer.Option(help="Only papers from this year or later.")]
UNTIL = Annotated[int | None, typer.Option(help="Only papers from this year or earlier.")]


@app.callback()
def _global_options(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Folder of the index and catalogs (default: PAPERCHAT_DATA_DIR, else the "
            "per-user data folder, e.g. ~/.local/share/paperchat).",
            show_default=False,
        ),
    ] = None,
    collection: Annotated[
        str | None,
        typer.Option(
            "--collection",
            help="Collection to use (default: PAPERCHAT_COLLECTION, else 'paperchat').",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Ask questions about a collection of paper abstracts and get cited answers."""
    OVERRIDES.clear()
    if data_dir is not None:
        OVERRIDES["data_dir"] = data_dir.expanduser()
    if collection is not None:
        OVERRIDES["collection"] = collection


def _library(s: Settings) -> Library:
    """The index, opened now (a read-back from Chroma shows a progress bar)."""
    from rag import Library

    library = Library(s)
    with readback_progress() as progress:
        library.open(progress)
    return library


@app.command()
def ingest(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or folders (default: PAPERCHAT_CORPUS).")
    ] = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Delete the index and start over.")
    ] = False,
    as_json: JSON = False,
) -> None:
    """Read abstracts (paper PDFs, seed layouts, JSONL, CSV, BibTeX, RIS, CSL-JSON), index changes.

    Folders are read recursively; a file's format is detected from its content. JSON lines
    and JSON arrays stream, whatever their size; a killed run is resumed by running it again
    (what was written is kept). Each file or record that cannot be read is one warning line
    naming it and the problem; the index keeps what it held. Exit code 3 when anything was
    skipped, 0 when everything was read, 1 on an error (one line, nothing changed).
    """
    from rag import Library

    s = settings()
    targets = paths or s.corpus
    missing = [p for p in targets if not p.exists()]
    if missing and not paths:
        fail(
            f"no paths given, and the default corpus {missing[0]} (PAPERCHAT_CORPUS) is not "
            "here: name the files or folders to read (`paperchat ingest ~/papers/`), or run "
            "`paperchat demo` to index the bundled seed abstracts",
            2,
        )
    if missing:
        fail(f"no such file or folder: {missing[0]}")
    with user_errors(), ingest_progress(enabled=not as_json) as progress:
        report = Library(s).ingest(targets, rebuild=rebuild, progress=progress)
    if as_json:
        out.print_json(to_json(asdict(report)))
    else:
        _print_ingest(report)
    if not report.files:  # a folder with no corpus file in it: say what would be read
        from rich.markup import escape

        from rag import SUFFIXES

        err.print(
            "[yellow]warning:[/yellow] "
            + escape(
                f"no corpus file under {', '.join(map(str, targets))} (read: "
                f"{' '.join(sorted(SUFFIXES))}); nothing changed"
            )
        )
    raise typer.Exit(3 if report.skipped or not report.files else 0)


@app.command()
def demo(as_json: JSON = False) -> None:
    """Index the bundled seed abstracts (five files, installed with paperchat) to try it at once."""
    from rag import seeds_dir

    seeds = seeds_dir()
    if seeds is None:
        fail("the bundled seed abstracts are not installed; reinstall paperchat")
    try:
        ingest(paths=[seeds], rebuild=False, as_json=as_json)
    except typer.Exit as done:
        if not done.exit_code and not as_json:
            err.print(
                '[dim]now try: paperchat ask "Which papers shorten chain-of-thought reasoning?"'
                "[/dim]"
            )
        raise


def _print_ingest(report: Any) -> None:
    from rich.markup import escape

    for f in report.files:
        if f.error is None:
            extra = f", {f.merged} duplicates merged" if f.merged else ""
            extra += f", {len(f.skipped)} skipped" if f.skipped else ""
            out.print(f"{escape(f.path)}: {f.found} papers ({f.layout}){extra}")
    for line in (w for f in report.files for w in f.warnings()):
        err.print(f"[yellow]warning:[/yellow] {escape(line)}")
    out.print(
        f"[bold]{report.papers_total} papers indexed[/bold]: {report.added} added, "
        f"{report.updated} updated, {report.unchanged} unchanged, {report.removed} removed; "
        f"{report.chunks_embedded} chunks embedded"
    )


def _filters(
    author: str | None, source: str | None, since: int | None, until: int | None
) -> Filters | None:
    from rag import Filters

    if author is None and source is None and since is None and until is None:
        return None
    return Filters(author=author, source=source, year_min=since, year_max=until)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in plain language.")],
    k: K = None,
    author: AUTHOR = None,
    source: SOURCE = None,
    since: SINCE = None,
    until: UNTIL = None,
    backend: BACKEND = None,
    quotes: Annotated[
        bool,
        typer.Option(
            "--quotes", help="Print under each reference the abstract sentences that support it."
        ),
    ] = False,
    bibtex: Annotated[
        bool,
        typer.Option("--bibtex", help="Print the cited references as BibTeX after the answer."),
    ] = False,
    as_json: JSON = False,
) -> None:
    """Answer a question with numbered citations to the papers it comes from.

    Every claim is checked against the retrieved abstracts: citations are added or corrected
    where one paper clearly supports a claim, and claims nothing supports are marked
    "(unsupported)". --json carries each claim with its citations, supporting quote and score.
    """
    s = settings()
    check_backend(backend)
    with user_errors():
        stream = _library(s).stream(
            question, k=k, filters=_filters(author, source, since, until), backend=backend
        )
        answer = _render(stream, live=not as_json, quotes=quotes)
    if as_json:
        out.print_json(to_json(answer_dict(answer)))
    elif bibtex and answer.citations:
        from rag import references

        out.print()
        out.print(references.answer_bibtex(answer), markup=False, highlight=False)


def answer_dict(answer: Answer) -> dict[str, Any]:
    """Serialise an answer for --json (hits summarised, not whole abstracts)."""
    from rag import references

    data = asdict(answer)
    data["citations"] = [
        {**references.citation_record(c, paper), "passage": c.passage}
        for c, paper in references.cited_papers(answer)
    ]
    data["hits"] = [
        {"paper_id": h.paper.id, "title": h.paper.title, "score": h.score} for h in answer.hits
    ]
    return data


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _render(stream: Iterator[Any], live: bool, quotes: bool = False) -> Answer:
    """Show the draft as it streams (on a terminal), then the checked answer and references."""
    from rich.live import Live
    from rich.text import Text

    from rag import Answer

    final = None
    draft, redraws = "", Redraws()
    with Live(Text(""), console=out, transient=True, auto_refresh=False) as view:
        for item in stream:
            if isinstance(item, Answer):
                final = item
            elif live and out.is_terminal:
                draft += item
                if redraws.due():
                    view.update(Text(draft, style="dim"), refresh=True)
    assert final is not None
    if live:
        out.print(_answer_text(final))
        _print_references(final, quotes)
    return final


def _answer_text(answer: Answer) -> Any:
    """The answer with unsupported claims set apart (yellow, marked)."""
    from rich.text import Text

    from rag import UNSUPPORTED_MARK

    text = Text(answer.text)
    cursor = 0
    for claim in answer.claims:
        at = answer.text.find(claim.display, cursor) if claim.display else -1
        if at < 0:
            continue
        cursor = at + len(claim.display)
        if not claim.supported:
            text.stylize("yellow", at, cursor)
            mark = answer.text.find(UNSUPPORTED_MARK, at, cursor)
            if mark >= 0:
                text.stylize("bold yellow", mark, mark + len(UNSUPPORTED_MARK))
    return text


def _print_references(answer: Answer, quotes: bool = False) -> None:
    from rich.markup import escape

    for note in answer.notices:
        err.print(f"[yellow]note:[/yellow] {escape(note)}")
    if answer.citations:
        from rag import references

        links = {
            c.n: references.best_link(p)
            for c, p in references.cited_papers(answer)
            if p is not None
        }
        out.print()
        for c in answer.citations:
            who = author_list(c.authors, 3)
            link = links.get(c.n)
            out.print(
                f"[bold][{c.n}][/bold] {escape(c.title)}"
                + (f" — {escape(who)}" if who else "")
                + (f" ({c.year})" if c.year else "")
                + f" [dim]{escape(c.source)}[/dim]"
                + (f" [link={link}]{escape(link)}[/link]" if link else "")
            )
            if quotes:
                said = dict.fromkeys(
                    cl.quote for cl in answer.claims if cl.source == c.n and cl.quote
                )
                for quote in said or ([c.passage] if c.passage else []):
                    out.print(f"    [italic]“{escape(quote)}”[/italic]")
    label = "abstained · " if answer.abstained else ""
    model = f" ({answer.model})" if answer.model else ""
    marked = f" · {answer.unsupported_claims} unsupported" if answer.unsupported_claims else ""
    out.print(
        f"[dim]{label}{answer.backend}{model} · "
        f"{answer.timings.get('total_ms', 0):.0f} ms{marked}[/dim]"
    )


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: K = None,
    author: AUTHOR = None,
    source: SOURCE = None,
    since: SINCE = None,
    until: UNTIL = None,
    as_json: JSON = False,
) -> None:
    """Rank papers for a query and show their best passages and scores."""
    s = settings()
    with user_errors():
        result = _library(s).search(query, k, _filters(author, source, since, until))
    if as_json:
        rows = [
            {
                "rank": i,
                "paper_id": h.paper.id,
                "title": h.paper.title,
                "authors": h.paper.authors,
                "year": h.paper.year,
                "score": h.score,
                "dense": h.dense_score,
                "lexical": h.lexical_score,
                "passage": h.passages[0].text if h.passages else "",
            }
            for i, h in enumerate(result.hits, 1)
        ]
        out.print_json(
            to_json({"query": query, "relevance": round(result.relevance, 4), "hits": rows})
        )
        return
    for i, h in enumerate(result.hits, 1):
        out.print(
            f"[bold]{i}. {h.paper.title}[/bold]  [dim]score {h.score:.3f} "
            f"(dense {h.dense_score:.2f}, bm25 {h.lexical_score:.2f})[/dim]"
        )
        if h.passages:
            out.print(f"   {h.passages[0].text[:300]}")


@app.command()
def papers(as_json: JSON = False) -> None:
    """List every paper in the index."""
    from rag import Library

    s = settings()
    with user_errors():
        found = sorted(Library(s).papers(), key=lambda p: p.title.lower())
    if as_json:
        out.print_json(to_json([asdict(p) for p in found]))
        return
    from rich.markup import escape

    for p in found:
        who = author_list(p.authors, 2)
        out.print(
            f"[dim]{p.id}[/dim] {escape(p.title)}"
            + (f" — {escape(who)}" if who else "")
            + (f" ({p.year})" if p.year else "")
            + f" [dim]{escape(', '.join(p.source_names))}[/dim]"
        )
    out.print(f"[bold]{len(found)} papers[/bold]")


@app.command()
def stats(as_json: JSON = False) -> None:
    """Show what the index holds and where: papers, chunks, embedder, store."""
    from rag import Library

    s = settings()
    with user_errors():
        info = asdict(Library(s).stats())
    if as_json:
        out.print_json(to_json(info))
    else:
        for key, value in info.items():
            out.print(f"{key:>12}: {value}")


@app.command()
def chat(k: K = None, backend: BACKEND = None) -> None:
    """Hold a conversation: follow-up questions use the earlier turns (/new resets, /quit exits)."""
    from rag import Turn

    s = settings()
    check_backend(backend)
    with user_errors():
        library = _library(s)
    history: list[Turn] = []
    out.print("[dim]Ask about the papers. /new starts over, /quit (or Ctrl-D) leaves.[/dim]")
    while True:
        try:
            question = input("\nyou> ").strip()
        except (EOFError, KeyboardInterrupt):
            out.print()
            return
        if question in {"/quit", "/exit"}:
            return
        if question == "/new":
            history.clear()
            out.print("[dim]new conversation[/dim]")
            continue
        try:
            with user_errors():
                answer = _render(
                    library.stream(question, k=k, backend=backend, history=history), live=True
                )
        except typer.Exit:
            continue
        history.append(Turn(question=question, answer=answer.text))


def register_commands(target: typer.Typer = app) -> None:
    """Add the commands installed packages declare in the `paperchat.commands` group."""
    from importlib.metadata import entry_points

    taken = {c.name or getattr(c.callback, "__name__", "") for c in target.registered_commands}
    for entry in entry_points(group=COMMANDS):
        if entry.name not in taken:
            target.command(entry.name)(entry.load())
            taken.add(entry.name)


register_commands()
app.add_typer(collections_app, name="collections")


def main() -> None:
    """Entry point of the `paperchat` console script and of `python -m ui.cli`."""
    app()


if __name__ == "__main__":
    main()
