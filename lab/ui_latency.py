"""The first claim as a user sees it in the web UI (real Chromium), beside a cold extractive `ask`.

Serves the Gradio app in this process over the configured index and LLM endpoint (the usual
settings: PAPERCHAT_DATA_DIR, OPENAI_BASE_URL, PAPERCHAT_OPENAI_MODEL, ...), opens it in
headless Chromium and asks dev questions in turn (a server's prompt cache holds only the
last prompt). Two times per question from the click on Send: when the first answer text is
drawn (the first claim's line, for the LLM) and when the finished answer is shown. Each
round also times one cold `paperchat ask --backend extractive` in a new process, the unit the
latency targets are written in (docs/generation.md). Prints the medians and the ratios.

    python -m lab.ui_latency --questions 6 --runs 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from eval.harness import load_questions
from lab.ask_latency import timed_ask

CHROMIUM = os.environ.get("PAPERCHAT_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]
TIMEOUT = 300_000  # ms
POLL_MS = 50  # checking on every animation frame would take CPU from the model server
# answer text is drawn: the streaming draft shows words (not the "…" placeholder), or the n-th
# answer is finished (a fallback or an abstention is drawn whole)
FIRST_TEXT = """(n) => {
  const drafts = document.querySelectorAll('#chatbot .answer.streaming');
  const last = drafts[drafts.length - 1];
  const done = document.querySelectorAll('#chatbot .answer-meta, #chatbot .answer.error');
  return done.length >= n || (!!last && /[A-Za-z]{4,} [a-z]{2,}/.test(last.textContent));
}"""


def main() -> None:
    from playwright.sync_api import expect, sync_playwright

    from rag import PaperChat, Settings
    from tests.conftest import free_port
    from ui.app import build_app

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=6, help="answerable dev questions")
    parser.add_argument("--runs", type=int, default=2, help="runs of each question")
    args = parser.parse_args()
    settings = Settings()
    questions = [q.question for q in load_questions() if q.answerable][::13][: args.questions]
    app = build_app(settings, PaperChat(settings))
    app.queue(default_concurrency_limit=1)
    port = free_port()
    app.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    first, done, cold = [], [], []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT)
            page.goto(f"http://127.0.0.1:{port}/")
            finished = page.locator("#chatbot .answer-meta, #chatbot .answer.error")
            n = 0
            for question in ["warm-up: what is chain-of-thought?"] + questions * args.runs:
                page.locator("#question textarea").fill(question)
                start = time.perf_counter()
                page.locator("#send").click()
                n += 1
                page.wait_for_function(FIRST_TEXT, arg=n, polling=POLL_MS, timeout=TIMEOUT)
                shown = time.perf_counter() - start
                expect(finished).to_have_count(n, timeout=TIMEOUT)
                total = time.perf_counter() - start
                if n > 1:
                    first.append(shown)
                    done.append(total)
                    cold.append(timed_ask(question, "extractive")[1])
                    print(f"{shown:5.2f} s first, {total:5.2f} s whole  {question[:60]}")
            browser.close()
    finally:
        app.close()
    f, d, c = (statistics.median(x) for x in (first, done, cold))
    print(f"web UI ({settings.resolved_backend()}): first answer text p50 {f:.2f} s, "
          f"finished answer p50 {d:.2f} s; cold extractive `ask` p50 {c:.2f} s")
    print(f"ratios: first claim / extractive ask {f / c:.2f}x, whole / extractive ask {d / c:.2f}x "
          f"({len(questions)} questions x {args.runs} runs)")


if __name__ == "__main__":
    main()
