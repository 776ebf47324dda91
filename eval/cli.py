"""`paperchat eval`: run the harness on a question set (imports stay lazy for a fast --help).

Registered in the `paperchat.commands` entry-point group (pyproject.toml), so `ui.cli`
never imports this module by name.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ui.shell import BACKEND

EVAL_DIR = Path(__file__).parent
PIPE_WIDTH = 400  # columns when stdout is not a terminal: wide enough for every table


def eval_command(
    questions: Annotated[Path, typer.Option("--questions", help="JSONL question set.")] = EVAL_DIR
    / "questions.jsonl",
    backend: BACKEND = None,
    k: Annotated[
        int | None,
        typer.Option("--k", "-k", min=1, max=50, help="Papers per question (default: TOP_K)."),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Where report.md, results.json and plots go.")
    ] = EVAL_DIR / "out",
    compare: Annotated[
        bool, typer.Option("--compare", help="Also rank with BM25 alone and dense alone.")
    ] = False,
    judge: Annotated[
        bool,
        typer.Option(
            "--judge/--no-judge",
            help="LLM-judged faithfulness of cited claims (only when an LLM is configured).",
        ),
    ] = True,
    gate: Annotated[
        bool,
        typer.Option(
            "--gate",
            help="Exit 1 unless recall@5 >= 0.95, citation precision >= 0.95, fact coverage "
            ">= 0.45 and abstention precision >= 0.85 (the quality gate; abstention recall "
            "is reported, not gated).",
        ),
    ] = False,
    beir: Annotated[
        Path | None,
        typer.Option(
            "--beir",
            help="Instead of the question set: a BEIR-layout directory (corpus.jsonl, "
            "queries.jsonl, qrels/SPLIT.tsv), e.g. SciFact. Ingests its corpus into "
            "eval/out/beir/NAME and prints nDCG@10, recall@10/100, MRR@10 and query time for "
            "hybrid, dense and lexical retrieval.",
        ),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="The qrels split for --beir.")] = "train",
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=1,
            help="Only the first N questions of each type (a quicker run, e.g. with a slow "
            "local model).",
        ),
    ] = None,
) -> None:
    """Measure retrieval, answers, abstention and latency on a question set; write a report."""
    if beir is not None:
        _beir(beir, split)
        return
    from rich.console import Console
    from rich.progress import Progress

    from eval.harness import (
        QuestionFileError,
        first_of_each_type,
        gate_failures,
        llm_configured,
        load_questions,
        run_eval,
    )
    from eval.report import rich_summary, write_report
    from rag import Library
    from ui.shell import check_backend, err, fail, settings, user_errors

    # Into a file or a CI log, tables keep every figure (rich would cut them to 80 columns).
    console = Console(highlight=False, width=None if sys.stdout.isatty() else PIPE_WIDTH)
    check_backend(backend)
    try:
        qs = load_questions(questions)
    except QuestionFileError as exc:
        fail(str(exc))
    if limit:
        qs = first_of_each_type(qs, limit)
    s = settings()
    use_judge = judge and llm_configured(s)
    with user_errors():
        session = Library(s).open()
        with Progress(console=err, transient=True) as bar:
            task = bar.add_task("evaluating", total=len(qs))

            def progress(done: int, total: int, qid: str) -> None:
                bar.update(task, completed=done, description=f"evaluating {qid}".rstrip())

            run = run_eval(
                session,
                qs,
                k=k,
                backend=backend,
                compare=compare,
                judge=use_judge,
                progress=progress,
                question_file=str(questions),
            )
    written = write_report(run, out)
    for item in rich_summary(run):
        console.print(item)
    if not any(p.suffix == ".png" for p in written):
        err.print("note: matplotlib is not installed, so no plots were drawn")
    console.print("wrote " + ", ".join(str(p) for p in written))
    failures = gate_failures(run.summary) if gate else {}
    for name, why in failures.items():
        err.print(f"[red]gate failed:[/red] {name} {why}")
    if failures:
        raise typer.Exit(1)


def _beir(directory: Path, split: str) -> None:
    """Run the BEIR benchmark and print its table (`python -m eval.beir` does the same)."""
    from eval.beir import run
    from ui.shell import fail, user_errors

    with user_errors():
        try:
            result = run(directory, split)
        except (FileNotFoundError, ValueError) as exc:
            fail(str(exc))
    print(result["table"])
