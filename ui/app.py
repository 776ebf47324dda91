"""The Gradio chat UI: ask questions, read cited answers, inspect the sources."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import gradio as gr

from rag.config import BACKENDS, Settings
from rag.errors import PaperchatError
from rag.pipeline import PaperChat, Turn
from rag.records import Answer, Paper
from rag.references import answer_bibtex, to_markdown
from rag.retrieve import Filters
from ui.render import (
    EMPTY_SOURCES,
    render_answer,
    render_error,
    render_partial,
    render_sources,
)

log = logging.getLogger(__name__)

TITLE = "paperchat"
EXAMPLES = [
    "Which papers shorten chain-of-thought reasoning, and how?",
    "What has Chak Tou Leong worked on?",
    "How can LLM agents learn from step-level trajectory calibration?",
    "Which papers study retrieval-augmented generation?",
]
ALL_SOURCES = "All sources"
PAPER_COLUMNS = ["Title", "Authors", "Year", "Sources"]

CSS = """
.paperchat-header h1 { margin-bottom: 0; }
.paperchat-header p { margin-top: 4px; opacity: 0.75; }
#sources-panel { max-height: 640px; overflow-y: auto; }
.sources-heading { font-weight: 600; margin: 6px 0 8px; font-size: 0.95em; }
.other-heading { margin-top: 16px; opacity: 0.8; }
.sources-empty { opacity: 0.7; font-style: italic; padding: 8px; }
.source-card { border: 1px solid var(--border-color-primary, #ddd); border-radius: 8px;
  padding: 10px 12px; margin-bottom: 10px; background: var(--background-fill-secondary);
  transition: box-shadow 0.3s, border-color 0.3s; scroll-margin-top: 12px; }
.source-card.highlight { border-color: #f59e0b; box-shadow: 0 0 0 3px rgba(245,158,11,0.45); }
.card-n { font-weight: 700; color: var(--color-accent, #f97316); }
.card-title { font-weight: 600; }
.card-authors { font-size: 0.88em; opacity: 0.8; margin-top: 2px; }
.card-source { font-size: 0.8em; opacity: 0.65; margin-top: 2px; }
.card-passage { margin: 8px 0 4px; padding: 4px 10px; border-left: 3px solid #f59e0b;
  font-size: 0.9em; font-style: italic; }
.card-abstract summary, .other-hit summary { cursor: pointer; font-size: 0.9em; }
.card-abstract p, .other-hit p { font-size: 0.88em; margin: 6px 0; }
.other-hit { padding: 4px 0; border-bottom: 1px dashed var(--border-color-primary, #ddd); }
a.cite { font-weight: 600; text-decoration: none; cursor: pointer; }
a.cite:hover { text-decoration: underline; }
a.cite { position: relative; }
.cite-quote, .claim-why { display: none; }
a.cite:hover .cite-quote, a.cite:focus .cite-quote, .claim.unsupported:hover .claim-why {
  display: block; position: absolute; left: 0; top: 1.6em; z-index: 50;
  width: min(420px, 70vw); padding: 8px 10px; border-radius: 6px; font-weight: 400;
  font-style: italic; font-size: 0.88em; line-height: 1.35; white-space: normal;
  background: var(--background-fill-primary, #fff); color: var(--body-text-color, #111);
  border: 1px solid #f59e0b; box-shadow: 0 4px 14px rgba(0,0,0,0.18); }
.cite-quote::before { content: "“"; } .cite-quote::after { content: "”"; }
.claim.unsupported { position: relative; color: var(--body-text-color-subdued, #777);
  text-decoration: underline dotted #d97706; text-underline-offset: 3px; cursor: help; }
.model-reply { font-size: 0.8em; opacity: 0.75; margin-top: 4px; }
.model-reply p { white-space: pre-wrap; }
.sent.quote-hl { background: rgba(245,158,11,0.35); border-radius: 3px; }
.answer-meta { font-size: 0.78em; opacity: 0.6; margin-top: 6px; }
.answer-notice { font-size: 0.85em; opacity: 0.8; margin-top: 4px; }
.answer.abstained { border-left: 4px solid #f59e0b; padding-left: 8px;
  background: rgba(245,158,11,0.08); }
.answer.error { border-left: 4px solid #dc2626; padding-left: 8px;
  background: rgba(220,38,38,0.08); }
"""

# Runs once on page load: installs the CSS and a delegated click handler for citation links
# (Blocks-level css/js arguments moved to launch() in Gradio 6; this keeps build_app
# self-contained whichever way the app is launched).
LOAD_JS = """
() => {
  if (window.__paperchatInstalled) return;
  window.__paperchatInstalled = true;
  const style = document.createElement('style');
  style.id = 'paperchat-style';
  style.textContent = __CSS__;
  document.head.appendChild(style);
  document.addEventListener('click', (event) => {
    const link = event.target.closest && event.target.closest('a.cite');
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const href = link.getAttribute('href') || '';
    const n = link.getAttribute('data-cite') || href.replace('#src-', '');
    const card = document.getElementById('src-' + n);
    if (!card) return;
    document.querySelectorAll('.source-card.highlight')
      .forEach((c) => c.classList.remove('highlight'));
    card.classList.add('highlight');
    card.scrollIntoView({behavior: 'smooth', block: 'center'});
    const details = card.querySelector('details');
    if (details) details.open = true;
    document.querySelectorAll('.sent.quote-hl')
      .forEach((x) => x.classList.remove('quote-hl'));
    const inner = link.querySelector('.cite-quote');
    const quote = inner ? inner.textContent.trim() : '';
    if (quote) {
      card.querySelectorAll('.sent').forEach((x) => {
        if (x.textContent.trim() === quote) x.classList.add('quote-hl');
      });
    }
  }, true);
}
""".replace("__CSS__", json.dumps(CSS))


class _Session:
    """Build the PaperChat session on first use, so a missing index shows as a chat error."""

    def __init__(self, settings: Settings, session: PaperChat | None) -> None:
        self.settings = settings
        self._session = session
        self._lock = threading.Lock()

    def get(self) -> PaperChat:
        with self._lock:
            if self._session is None:
                self._session = PaperChat(self.settings)
            return self._session


def _load_papers(settings: Settings, session: PaperChat | None) -> list[Paper]:
    """Every indexed paper, read the way `paperchat papers` reads them (the catalog)."""
    from rag.catalog import contents

    s = session.settings if session is not None else settings
    try:
        return contents(s).papers
    except PaperchatError as exc:
        log.warning("could not load papers: %s", exc)
        return []


def paper_rows(papers: list[Paper], query: str = "") -> list[list[Any]]:
    """Rows for the Papers table, keeping those whose title/authors/sources match `query`."""
    q = (query or "").strip().lower()
    rows = []
    for p in sorted(papers, key=lambda p: (-(p.year or 0), p.title.lower())):
        row = [p.title, ", ".join(p.authors), p.year or "", ", ".join(p.source_names)]
        if q and q not in " ".join(str(c) for c in row).lower():
            continue
        rows.append(row)
    return rows


def make_filters(
    author: str | None,
    source: str | None,
    year_min: float | None = None,
    year_max: float | None = None,
) -> Filters | None:
    """Build retrieval filters from the controls, or None when nothing is set."""
    author = (author or "").strip() or None
    source = None if not source or source == ALL_SOURCES else source
    low = int(year_min) if year_min else None
    high = int(year_max) if year_max else None
    if author is None and source is None and low is None and high is None:
        return None
    return Filters(author=author, source=source, year_min=low, year_max=high)


def build_app(settings: Settings, session: PaperChat | None = None) -> gr.Blocks:
    """Build the chat UI over an index; `session` is created lazily if not given."""
    lazy = _Session(settings, session)
    papers = _load_papers(settings, session)
    sources = sorted({s for p in papers for s in p.source_names})
    default_backend = settings.backend if settings.backend in BACKENDS else "auto"

    def respond(
        message: str,
        chat: list[dict[str, Any]],
        turns: list[Turn],
        author: str,
        source: str,
        year_min: float | None,
        year_max: float | None,
        k: float,
        backend: str,
    ) -> Iterator[tuple[Any, ...]]:
        chat = list(chat or [])
        turns = list(turns or [])
        question = message or ""
        chat.append({"role": "user", "content": question})
        chat.append({"role": "assistant", "content": render_partial("…")})
        yield chat, turns, gr.update(), "", gr.update(), gr.update()
        text = ""
        answer: Answer | None = None
        try:
            pc = lazy.get()
            for item in pc.stream(
                question,
                k=int(k) if k else None,
                filters=make_filters(author, source, year_min, year_max),
                backend=None if backend == "auto" else backend,
                history=turns,
            ):
                if isinstance(item, str):
                    text += item
                    chat[-1] = {"role": "assistant", "content": render_partial(text)}
                    yield chat, turns, gr.update(), "", gr.update(), gr.update()
                else:
                    answer = item
        except PaperchatError as exc:
            chat[-1] = {"role": "assistant", "content": render_error(str(exc))}
            yield chat, turns, gr.update(), "", gr.update(), gr.update()
            return
        except Exception as exc:  # never show a traceback in the chat
            log.exception("unexpected error answering %r", question)
            msg = f"something went wrong ({type(exc).__name__}); please try again"
            chat[-1] = {"role": "assistant", "content": render_error(msg)}
            yield chat, turns, gr.update(), "", gr.update(), gr.update()
            return
        if answer is None:
            chat[-1] = {"role": "assistant", "content": render_error("no answer was produced")}
            yield chat, turns, gr.update(), "", gr.update(), gr.update()
            return
        chat[-1] = {"role": "assistant", "content": render_answer(answer)}
        turns.append(Turn(answer.question, answer.text))
        yield chat, turns, render_sources(answer), "", to_markdown(answer), answer_bibtex(answer)

    def new_chat() -> tuple[Any, ...]:
        return [], [], EMPTY_SOURCES, "", "", ""

    def filter_papers(query: str) -> list[list[Any]]:
        return paper_rows(papers, query)

    with gr.Blocks(title=TITLE, fill_width=True) as app:
        gr.Markdown(
            f"# {TITLE}\nAsk questions about {len(papers)} research-paper abstracts; "
            "every claim links to the paper it came from.",
            elem_classes="paperchat-header",
        )
        turns_state = gr.State([])
        with gr.Tab("Chat"), gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Conversation",
                    elem_id="chatbot",
                    height=520,
                    render_markdown=False,
                    sanitize_html=True,
                    placeholder="Ask about the papers in the collection, or pick an example below.",
                    feedback_options=None,
                    buttons=["copy"],
                )
                with gr.Row():
                    textbox = gr.Textbox(
                        placeholder="Ask a question about the papers…",
                        show_label=False,
                        scale=5,
                        elem_id="question",
                        max_lines=4,
                    )
                    send = gr.Button("Send", variant="primary", scale=1, elem_id="send")
                    clear = gr.Button("New chat", scale=1, elem_id="new-chat")
                gr.Examples(EXAMPLES, inputs=textbox, label="Example questions")
                with gr.Accordion("Search options", open=False):
                    with gr.Row():
                        author = gr.Textbox(
                            label="Author filter",
                            placeholder="e.g. Chak Tou Leong",
                            elem_id="author-filter",
                        )
                        source = gr.Dropdown(
                            [ALL_SOURCES, *sources],
                            value=ALL_SOURCES,
                            label="Source file",
                            elem_id="source-filter",
                        )
                    with gr.Row():
                        year_min = gr.Number(
                            label="From year", precision=0, elem_id="year-min", value=None
                        )
                        year_max = gr.Number(
                            label="To year", precision=0, elem_id="year-max", value=None
                        )
                    with gr.Row():
                        k = gr.Slider(
                            1,
                            10,
                            value=min(max(settings.top_k, 1), 10),
                            step=1,
                            label="Number of papers",
                            elem_id="top-k",
                        )
                        backend = gr.Dropdown(
                            list(BACKENDS),
                            value=default_backend,
                            label="Backend",
                            elem_id="backend",
                        )
                with gr.Accordion("Export the answer as Markdown or BibTeX", open=False):
                    export = gr.Textbox(
                        label="Answer with numbered references (Markdown)",
                        lines=8,
                        buttons=["copy"],
                        interactive=False,
                        elem_id="export-markdown",
                    )
                    export_bib = gr.Textbox(
                        label="Cited references (BibTeX, for Zotero, Mendeley, EndNote)",
                        lines=8,
                        buttons=["copy"],
                        interactive=False,
                        elem_id="export-bibtex",
                    )
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources_html = gr.HTML(EMPTY_SOURCES, elem_id="sources-panel", js_on_load=None)
        with gr.Tab("Papers"):
            paper_filter = gr.Textbox(
                label="Filter papers",
                placeholder="title, author, year or source…",
                elem_id="paper-filter",
            )
            table = gr.Dataframe(
                value=paper_rows(papers),
                headers=PAPER_COLUMNS,
                interactive=False,
                wrap=True,
                elem_id="papers-table",
            )
            paper_filter.change(filter_papers, paper_filter, table)

        inputs = [textbox, chatbot, turns_state, author, source, year_min, year_max, k, backend]
        outputs = [chatbot, turns_state, sources_html, textbox, export, export_bib]
        textbox.submit(respond, inputs, outputs, api_name="ask")
        send.click(respond, inputs, outputs, api_visibility="private")
        clear.click(new_chat, None, outputs, queue=False)
        app.load(None, None, None, js=LOAD_JS)
    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Launch the UI on host:port; PAPERCHAT_AUTH=user:password requires a login."""
    auth = settings.auth_pair()
    print("paperchat: loading the index and the embedding model…", flush=True)
    session: PaperChat | None = None
    try:
        session = PaperChat(settings)
        session.warm()  # the first answer is then as fast as the next ones
    except PaperchatError as exc:  # shown again, as a chat error, when a question is asked
        log.warning("index not ready: %s", exc)
        session = None
    app = build_app(settings, session)
    app.queue(default_concurrency_limit=4)
    app.launch(
        server_name=host, server_port=port, auth=auth, footer_links=[], prevent_thread_lock=True
    )
    print(f"paperchat UI ready on http://{host}:{port}", flush=True)
    app.block_thread()


def main() -> None:
    """Entry point: `python -m ui.app`."""
    serve(Settings())


if __name__ == "__main__":
    main()
