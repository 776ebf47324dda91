"""The Gradio chat UI: ask questions, read cited answers, inspect the sources."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import gradio as gr

from rag.answer import compare
from rag.answer.references import answer_bibtex, md_escape, paper_links, to_markdown
from rag.config import BACKENDS, Settings
from rag.errors import PaperchatError
from rag.index.lock import ingest_holder
from rag.pipeline import PaperChat, Turn
from rag.records import Answer, Paper
from rag.retrieval.retrieve import Filters
from ui.render import (
    EMPTY_SOURCES,
    render_answer,
    render_compare_note,
    render_comparison,
    render_error,
    render_partial,
    render_sources,
)
from ui.shell import readback_progress

log = logging.getLogger(__name__)

TITLE = "paperchat"
EXAMPLES = [
    "Which papers shorten chain-of-thought reasoning, and how?",
    "What has Chak Tou Leong worked on?",
    "How can LLM agents learn from step-level trajectory calibration?",
    "Which papers study retrieval-augmented generation?",
]
ALL_SOURCES = "All sources"
EMPTY = compare.EMPTY
PAPER_COLUMNS = ["Title", "Authors", "Year", "Source", "Identifier"]
SORT_COLUMNS = ["Year", "Title", "Authors", "Source", "Identifier"]
DESCENDING, ASCENDING = "Descending", "Ascending"

# System fonts only: Gradio's default theme loads Source Sans Pro from its static files, whose
# SemiBold file holds a subset of the glyphs, so bold titles mixed it with a fallback font
# (letters of two sizes). A system stack fetches no font file and looks the same offline.
FONT = (
    "system-ui",
    "-apple-system",
    "Segoe UI",
    "Roboto",
    "Helvetica Neue",
    "Noto Sans",
    "Liberation Sans",
    "Arial",
    "sans-serif",
)
FONT_MONO = (
    "ui-monospace",
    "SFMono-Regular",
    "Menlo",
    "Consolas",
    "Liberation Mono",
    "DejaVu Sans Mono",
    "monospace",
)

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
#compare-panel:empty { display: none; }
#papers-table table, #papers-table th, #papers-table td, #papers-table span {
  font-family: var(--font); }
.compare { overflow-x: auto; margin: 4px 0 8px; }
.compare-table { border-collapse: collapse; width: 100%; font-size: 0.86em; line-height: 1.35; }
.compare-table th, .compare-table td { border: 1px solid var(--border-color-primary, #ddd);
  padding: 6px 8px; vertical-align: top; text-align: left; }
.compare-table th { background: var(--background-fill-secondary); font-weight: 600; }
.compare-table th.aspect { width: 24%; }
.compare-title { font-weight: 600; min-width: 9em; }
.compare-n, .compare-year { white-space: nowrap; }
.compare-table .cell-empty { opacity: 0.5; text-align: center; }
.compare-table a.cite:hover .cite-quote, .compare-table .cite-quote { display: none; }
.compare-note { font-size: 0.88em; opacity: 0.8; font-style: italic; padding: 4px 0; }
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


class IndexBusy(PaperchatError):
    """An ingest holds the index: answers wait until it finishes."""


def _index_signature(settings: Settings) -> tuple[int, int, int] | None:
    """What identifies the index's current state: its catalog file (every ingest that changes
    the index writes a new one), or None when there is none."""
    from rag.index.catalog import path_for

    try:
        st = path_for(settings).stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class _Session:
    """The PaperChat session, built on first use (a missing index shows as a chat error) and
    rebuilt when an ingest changed the index (a rebuild drops the collection it reads)."""

    def __init__(self, settings: Settings, session: PaperChat | None) -> None:
        self.settings = session.settings if session is not None else settings
        self._session = session
        self._signature = _index_signature(self.settings) if session is not None else None
        self._papers: tuple[object, list[Paper]] | None = None
        self._lock = threading.Lock()

    def get(self) -> PaperChat:
        """The session over the index as it is now; IndexBusy while an ingest runs."""
        holder = ingest_holder(self.settings)
        if holder:
            raise IndexBusy(
                f"the index is being updated right now (`paperchat ingest`, {holder}); "
                "ask again when it finishes"
            )
        with self._lock:
            if self._session is None or _index_signature(self.settings) != self._signature:
                embedder = self._session.embedder if self._session is not None else None
                self._session = PaperChat(self.settings, embedder=embedder)
                self._signature = _index_signature(self.settings)  # loading may write it
            return self._session

    def papers(self) -> list[Paper]:
        """Every indexed paper (the catalog, as `paperchat papers` reads it), reread when the
        index changed."""
        from rag.index.catalog import contents

        signature = _index_signature(self.settings)
        if self._papers is None or self._papers[0] != signature:
            try:
                found = list(contents(self.settings).papers)
            except PaperchatError as exc:
                log.warning("could not load papers: %s", exc)
                found = []
            self._papers = (signature, found)
        return self._papers[1]


def _identifier(paper: Paper) -> str:
    """The paper's identifier as a Markdown link (DOI, arXiv id or its URL), else its source's
    own id as text, else "—"."""
    links = paper_links(paper)
    if "doi" in links:
        label, url = f"doi:{paper.doi}", links["doi"]
    elif "arxiv" in links:
        label, url = f"arXiv:{paper.arxiv_id}", links["arxiv"]
    elif "url" in links:
        label, url = "link", links["url"]
    else:
        return md_escape(paper.source_ids[0]) if paper.source_ids else EMPTY
    return f"[{md_escape(label)}]({quote(url, safe=':/?#=&%~+@!$,;*')})"


def paper_row(paper: Paper) -> list[str]:
    """One Papers-table row: title, authors, year, source files, identifier ("—" if none)."""
    return [
        paper.title.strip() or EMPTY,
        ", ".join(paper.authors) or EMPTY,
        str(paper.year) if paper.year else EMPTY,
        ", ".join(paper.source_names) or EMPTY,
        _identifier(paper),
    ]


def paper_rows(
    papers: list[Paper], query: str = "", sort_by: str = "Year", order: str = DESCENDING
) -> list[list[str]]:
    """Rows for the Papers table matching `query`, sorted by a column (SORT_COLUMNS); rows
    with nothing in that column come last either way, ties go by title."""
    q = (query or "").strip().lower()
    rows = [r for r in map(paper_row, papers) if not q or q in " ".join(r).lower()]
    col = PAPER_COLUMNS.index(sort_by) if sort_by in PAPER_COLUMNS else 2
    rows.sort(key=lambda r: r[0].casefold())
    rows.sort(key=lambda r: _sort_key(r[col], col), reverse=order == DESCENDING)
    return sorted(rows, key=lambda r: r[col] == EMPTY)  # stable: keeps the order above


def _sort_key(value: str, col: int) -> tuple[int, str]:
    if col == 2:
        return (int(value) if value.isdigit() else 0, "")
    return (0, re.sub(r"[\\\[\]]", "", value).casefold())


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


def comparison(pc: PaperChat, answer: Answer) -> tuple[str, str, str]:
    """The comparison table of an answer's cited papers: HTML, Markdown and CSV."""
    rows = compare.Comparer(pc.sentences).rows(answer)
    if not rows:
        return render_comparison(rows), "", ""
    return render_comparison(rows), compare.to_markdown(rows), compare.to_csv(rows)


EXPORTS = (  # label, elem_id, lines of each export box
    ("Answer with numbered references (Markdown)", "export-markdown", 8),
    ("Cited references (BibTeX, for Zotero, Mendeley, EndNote)", "export-bibtex", 8),
    ("Comparison table (Markdown)", "export-table-markdown", 6),
    ("Comparison table (CSV, for a spreadsheet)", "export-table-csv", 6),
)


def _export_box(label: str, elem_id: str, lines: int) -> gr.Textbox:
    """A read-only text box with a copy button, for one export format."""
    return gr.Textbox(
        label=label, lines=lines, buttons=["copy"], interactive=False, elem_id=elem_id
    )


class _Blocks(gr.Blocks):
    """Blocks that launch with paperchat's theme however they are launched (Gradio 6 takes
    the theme at launch, not in the constructor)."""

    def launch(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("theme", gr.themes.Default(font=FONT, font_mono=FONT_MONO))
        return super().launch(*args, **kwargs)


def build_app(settings: Settings, session: PaperChat | None = None) -> gr.Blocks:
    """Build the chat UI over an index; `session` is created lazily if not given."""
    lazy = _Session(settings, session)
    papers = lazy.papers()
    sources = sorted({s for p in papers for s in p.source_names})
    default_backend = settings.backend if settings.backend in BACKENDS else "auto"
    keep = gr.update()

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
        chat.append({"role": "assistant", "content": ""})
        # sources, textbox, exports, answer state and table change only with a finished answer
        unchanged = (keep, "", keep, keep, keep, keep, keep, keep)

        def say(html: str, *rest: Any) -> tuple[Any, ...]:
            chat[-1] = {"role": "assistant", "content": html}
            return (chat, turns, *(rest or unchanged))

        yield say(render_partial("…"))
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
                    yield say(render_partial(text))
                else:
                    answer = item
            table = ("", "", "")
            if answer and compare.wants_comparison(question) and len(answer.citations) > 1:
                table = comparison(pc, answer)
        except PaperchatError as exc:
            yield say(render_error(str(exc)))
            return
        except Exception as exc:  # never show a traceback in the chat
            log.exception("unexpected error answering %r", question)
            holder = ingest_holder(lazy.settings)
            msg = (
                f"the index was being updated while answering ({holder}); please ask again"
                if holder
                else f"something went wrong ({type(exc).__name__}); please try again"
            )
            yield say(render_error(msg))
            return
        if answer is None:
            yield say(render_error("no answer was produced"))
            return
        turns.append(Turn(answer.question, answer.text))
        yield say(
            render_answer(answer),
            render_sources(answer),
            "",
            to_markdown(answer),
            answer_bibtex(answer),
            answer,
            *table,
        )

    def compare_last(answer: Answer | None) -> tuple[str, str, str]:
        if answer is None:
            note = "Ask a question first: the table compares the papers an answer cites."
            return render_compare_note(note), "", ""
        try:
            return comparison(lazy.get(), answer)
        except PaperchatError as exc:
            return render_compare_note(f"No comparison: {exc}"), "", ""

    def new_chat() -> tuple[Any, ...]:
        return [], [], EMPTY_SOURCES, "", "", "", None, "", "", ""

    def list_papers(query: str, sort_by: str, order: str) -> list[list[str]]:
        return paper_rows(lazy.papers(), query, sort_by, order)

    with _Blocks(title=TITLE, fill_width=True) as app:
        gr.Markdown(
            f"# {TITLE}\nAsk questions about {len(papers)} research-paper abstracts; "
            "every claim links to the paper it came from.",
            elem_classes="paperchat-header",
        )
        turns_state = gr.State([])
        answer_state = gr.State(None)
        with gr.Tab("Chat"), gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Conversation",
                    elem_id="chatbot",
                    height=600,
                    render_markdown=False,
                    sanitize_html=True,
                    placeholder="Ask about the papers in the collection, or pick an example below.",
                    feedback_options=None,
                    buttons=["copy"],
                )
                compare_html = gr.HTML("", elem_id="compare-panel")
                with gr.Row():
                    textbox = gr.Textbox(
                        placeholder="Ask a question about the papers…",
                        show_label=False,
                        scale=6,
                        elem_id="question",
                        max_lines=4,
                    )
                    send = gr.Button("Send", variant="primary", scale=1, elem_id="send")
                with gr.Row():
                    compare_btn = gr.Button(
                        "Compare the cited papers", size="sm", elem_id="compare"
                    )
                    clear = gr.Button("New chat", size="sm", elem_id="new-chat")
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
                with gr.Accordion("Export the answer and the comparison table", open=False):
                    export, export_bib, export_table, export_csv = (
                        _export_box(label, elem_id, lines) for label, elem_id, lines in EXPORTS
                    )
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources_html = gr.HTML(EMPTY_SOURCES, elem_id="sources-panel", js_on_load=None)
        with gr.Tab("Papers"):
            with gr.Row():
                paper_filter = gr.Textbox(
                    label="Filter papers",
                    placeholder="title, author, year, source or identifier…",
                    elem_id="paper-filter",
                    scale=3,
                )
                sort_by = gr.Dropdown(
                    SORT_COLUMNS, value="Year", label="Sort by", elem_id="paper-sort", scale=1
                )
                order = gr.Radio(
                    [DESCENDING, ASCENDING],
                    value=DESCENDING,
                    label="Order",
                    elem_id="paper-order",
                    scale=1,
                )
            table = gr.Dataframe(
                value=paper_rows(papers),
                headers=PAPER_COLUMNS,
                datatype=["str", "str", "str", "str", "markdown"],
                column_widths=["38%", "24%", "7%", "15%", "16%"],
                interactive=False,
                wrap=True,
                elem_id="papers-table",
            )
            for control in (paper_filter, sort_by, order):
                control.change(list_papers, [paper_filter, sort_by, order], table)

        inputs = [textbox, chatbot, turns_state, author, source, year_min, year_max, k, backend]
        outputs = [
            chatbot,
            turns_state,
            sources_html,
            textbox,
            export,
            export_bib,
            answer_state,
            compare_html,
            export_table,
            export_csv,
        ]
        textbox.submit(respond, inputs, outputs, api_name="ask")
        send.click(respond, inputs, outputs, api_visibility="private")
        compare_btn.click(
            compare_last,
            answer_state,
            [compare_html, export_table, export_csv],
            api_visibility="private",
        )
        clear.click(new_chat, None, outputs, queue=False)
        app.load(None, None, None, js=LOAD_JS)
    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Launch the UI on host:port; PAPERCHAT_AUTH=user:password requires a login."""
    auth = settings.auth_pair()
    print("paperchat: loading the index and the embedding model…", flush=True)
    session: PaperChat | None = None
    try:
        with readback_progress() as progress:
            session = PaperChat(settings, progress=progress)
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
