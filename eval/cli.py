"""`paperchat eval`: run the harness on a question set (imports stay lazy for a fast --help)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def eval_command(
    questions: Annotated[
        Path, typer.Option(help="JSONL question set.")
    ] = Path(__file__).parent / "questions.jsonl",
) -> None:
    """Measure retrieval and abstention on a question set and print the figures."""
    from eval.retrieval import evaluate, load_questions
    from rag.config import Settings
    from rag.pipeline import PaperChat

    session = PaperChat(Settings())
    figures = evaluate(session, load_questions(questions))
    for name, row in figures.items():
        typer.echo(f"{name:>12}: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                          for k, v in row.items()))
