"""Whole `paperchat ask` as a user runs it: the LLM backend beside the extractive one.

Each question is asked in a new process in a pseudo-terminal (so the CLI draws its streaming
draft), the two backends alternating, and two times are taken per run: when the first answer
text is drawn (the first claim, for the LLM) and when the process exits. Prints the medians and
the LLM/extractive ratios of the medians. The LLM endpoint and index come from the usual
settings (OPENAI_BASE_URL, PAPERCHAT_OPENAI_MODEL, PAPERCHAT_DATA_DIR, ...).

    python -m lab.ask_latency --questions 6 --runs 2
"""

from __future__ import annotations

import argparse
import os
import pty
import re
import statistics
import sys
import time

from eval.harness import load_questions

_ESCAPE = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
_WORDS = re.compile(rb"[A-Za-z]{4,} [a-z]{2,}")  # answer text, not a spinner or a blank frame


def timed_ask(question: str, backend: str) -> tuple[float, float]:
    """Seconds to the first drawn answer text and to the end of one `paperchat ask`."""
    argv = [sys.executable, "-m", "ui.cli", "ask", question, "--backend", backend]
    start = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI, with the pty as its terminal
        os.execv(argv[0], argv)
    first, seen = None, b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
        if first is None and _WORDS.search(_ESCAPE.sub(b"", seen)):
            first = time.perf_counter() - start
    os.waitpid(pid, 0)
    total = time.perf_counter() - start
    return first or total, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=6, help="answerable dev questions")
    parser.add_argument("--runs", type=int, default=2, help="runs of each question and backend")
    parser.add_argument("--backend", default="openai", help="the LLM backend to time")
    args = parser.parse_args()
    questions = [q.question for q in load_questions() if q.answerable][::13][: args.questions]
    times: dict[str, list[tuple[float, float]]] = {args.backend: [], "extractive": []}
    for _ in range(args.runs):  # questions in turn: a server's prompt cache holds only the last
        for question in questions:
            for backend in times:
                times[backend].append(timed_ask(question, backend))
    med = {b: [statistics.median(t[i] for t in runs) for i in (0, 1)] for b, runs in times.items()}
    for backend, (first, total) in med.items():
        print(f"{backend:>10}: first answer text p50 {first:.2f} s, whole ask p50 {total:.2f} s")
    llm, ext = med[args.backend], med["extractive"]
    print(
        f"ratios: first claim / extractive ask {llm[0] / ext[1]:.2f}x, "
        f"whole ask / extractive ask {llm[1] / ext[1]:.2f}x "
        f"({len(questions)} questions x {args.runs} runs)"
    )


if __name__ == "__main__":
    main()
