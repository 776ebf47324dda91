"""`paperchat` command line: a thin shell over the rag library (typer + rich)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from rag.config import Settings

if TYPE_CHECKING:
    from rag.pipeline import PaperChat
    from rag.records import Answer

app = typer.Typer(
    help="Ask questions about a collection of paper abstracts and get cited answers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

K = Annotated[
    int | None,
    typer.Option("--k", "-k", min=1, max=50, help="Papers to retrieve (default: PAPERCHAT_TOP_K)."),
]
JSON = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of text.")]
AUTHOR = Annotated[
    str | None, typer.Option(help="Only papers with an author whose name contains this.")
]
SOURCE = Annotated[
    str | None,
    typer.Option(help="Only papers read from a source file whose name contains this."),
]
SINCE = Annotated[int | None, typer.Option(help="Only papers from this year or later.")]
UNTIL = Annotated[int | None, typer.Option(help="Only papers from this year or earlier.")]
BACKEND = Annotated[
    str | None,
    typer.Option(help="auto | extractive | openai (default: PAPERCHAT_BACKEND)."),
]


BACKENDS = ("auto", "extractive", "openai")


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the library's expected failures into one red line and exit code 1."""
    from pydantic import ValidationError

    from rag.errors import PaperchatError

    try:
        yield
    except PaperchatError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        err.print(
            f"[red]error:[/red] bad setting {'.'.join(map(str, first['loc']))}: {first['msg']}"
        )
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None


def settings() -> Settings:
    """Build the settings once per command."""
    with user_errors():
        return Settings()


def _session(s: Settings) -> PaperChat:
    from rag.pipeline import PaperChat

    return PaperChat(s)


def _to_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, default=str)


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
    """Read abstracts (seed layouts, JSONL, CSV, BibTeX) and index what changed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from rag.embed import make_embedder
    from rag.index import ingest as run_ingest

    s = settings()
    targets = paths or s.corpus
    missing = [p for p in targets if not p.exists()]
    if missing:
        err.print(f"[red]error:[/red] no such file or folder: {missing[0]}")
        raise typer.Exit(1)
    with (
        user_errors(),
        Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
            disable=as_json,
        ) as bar,
    ):
        task = bar.add_task("embedding chunks", total=None)
        report = run_ingest(
            targets,
            s,
            make_embedder(s.embed_model, s.embed_batch_size, s),
            rebuild=rebuild,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if as_json:
        out.print_json(_to_json(asdict(report)))
    else:
        _print_ingest(report)
    raise typer.Exit(3 if report.skipped else 0)


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


def _filters(author: str | None, source: str | None, since: int | None, until: int | None) -> Any:
    from rag.retrieve import Filters

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
    if backend and backend not in BACKENDS:
        err.print(f"[red]error:[/red] unknown backend {backend!r}: use {', '.join(BACKENDS)}")
        raise typer.Exit(2)
    with user_errors():
        session = _session(s)
        stream = session.stream(
            question, k=k, filters=_filters(author, source, since, until), backend=backend
        )
        answer = _render(stream, live=not as_json, quotes=quotes)
    if as_json:
        out.print_json(_to_json(answer_dict(answer)))
    elif bibtex and answer.citations:
        from rag.references import answer_bibtex

        out.print()
        out.print(answer_bibtex(answer), markup=False, highlight=False)


def answer_dict(answer: Answer) -> dict[str, Any]:
    """Serialise an answer for --json (hits summarised, not whole abstracts)."""
    from rag.references import citation_record, cited_papers

    data = asdict(answer)
    data["citations"] = [
        {**citation_record(c, paper), "passage": c.passage} for c, paper in cited_papers(answer)
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

    from rag.records import Answer

    final = None
    draft = ""
    with Live(Text(""), console=out, transient=True, auto_refresh=False) as view:
        for item in stream:
            if isinstance(item, Answer):
                final = item
            elif live and out.is_terminal:
                draft += item
                view.update(Text(draft, style="dim"), refresh=True)
    assert final is not None
    if live:
        out.print(_answer_text(final))
        _print_references(final, quotes)
    return final


def _answer_text(answer: Answer) -> Any:
    """The answer with unsupported claims set apart (yellow, marked)."""
    from rich.text import Text

    from rag.grounding import UNSUPPORTED_MARK

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
        from rag.references import best_link, cited_papers

        links = {c.n: best_link(p) for c, p in cited_papers(answer) if p is not None}
        out.print()
        for c in answer.citations:
            who = ", ".join(c.authors[:3]) + (" et al." if len(c.authors) > 3 else "")
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
        result = _session(s).search(query, k, _filters(author, source, since, until))
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
            _to_json({"query": query, "relevance": round(result.relevance, 4), "hits": rows})
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
    from rag.catalog import contents

    s = settings()
    with user_errors():
        found = sorted(contents(s).papers, key=lambda p: p.title.lower())
    if as_json:
        out.print_json(_to_json([asdict(p) for p in found]))
        return
    for p in found:
        who = ", ".join(p.authors[:2]) + (" et al." if len(p.authors) > 2 else "")
        out.print(
            f"[dim]{p.id}[/dim] {p.title}"
            + (f" — {who}" if who else "")
            + (f" ({p.year})" if p.year else "")
            + f" [dim]{', '.join(p.source_names)}[/dim]"
        )
    out.print(f"[bold]{len(found)} papers[/bold]")


@app.command()
def stats(as_json: JSON = False) -> None:
    """Show what the index holds and where: papers, chunks, embedder, store."""
    from rag.catalog import contents

    s = settings()
    with user_errors():
        held = contents(s)
        info = {
            "papers": len(held.papers),
            "chunks": held.stored_chunks,
            "embedder": held.embedder,
            "chunking": held.chunking,
            "store": s.store_location(),
            "collection": s.collection,
            "backend": s.resolved_backend(),
            "llm_model": s.openai_model if s.resolved_backend() == "openai" else None,
            "llm_base_url": s.openai_base_url,
        }
    if as_json:
        out.print_json(_to_json(info))
    else:
        for key, value in info.items():
            out.print(f"{key:>12}: {value}")


@app.command()
def chat(k: K = None, backend: BACKEND = None) -> None:
    """Hold a conversation: follow-up questions use the earlier turns (/new resets, /quit exits)."""
    from rag.pipeline import Turn

    s = settings()
    with user_errors():
        session = _session(s)
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
                    session.stream(question, k=k, backend=backend, history=history), live=True
                )
        except typer.Exit:
            continue
        history.append(Turn(question, answer.text))


LOOPBACK = ("127.0.0.1", "localhost", "::1")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind; anything but loopback is public.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 7860,
) -> None:
    """Start the chat UI (Gradio) in the browser: streamed cited answers and a sources panel."""
    s = settings()
    if host not in LOOPBACK and s.auth is None:
        err.print(
            f"[yellow]warning:[/yellow] serving on {host} without a login; "
            "set PAPERCHAT_AUTH=user:password to require one"
        )
    from ui.app import serve as run_server

    with user_errors():
        run_server(s, host=host, port=port)


def main() -> None:
    """Entry point of the `paperchat` console script."""
    app()


if __name__ == "__main__":
    main()


def _register_eval() -> None:
    """Add `paperchat eval` from the eval package when it is installed beside rag."""
    try:
        from eval.cli import eval_command
    except ImportError:
        return
    app.command("eval")(eval_command)


_register_eval()
