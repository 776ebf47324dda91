"""The chat UI's components: the header with the collection selector, the Chat tab
(conversation, options, exports, sources) and the Papers tab. Built inside an open `Blocks`;
the handlers are wired in `ui.app`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from rag import BACKENDS, Paper, Settings
from ui.handlers import ALL_SOURCES
from ui.papers import (
    ASCENDING,
    DESCENDING,
    PAPER_COLUMNS,
    SORT_COLUMNS,
    header,
    paper_rows,
    source_names,
)
from ui.render import EMPTY_SOURCES

EXAMPLES = [
    "Which papers shorten chain-of-thought reasoning, and how?",
    "What has Chak Tou Leong worked on?",
    "How can LLM agents learn from step-level trajectory calibration?",
    "Which papers study retrieval-augmented generation?",
]
EXPORTS = (  # label, elem_id, lines of each export box
    ("Answer with numbered references (Markdown)", "export-markdown", 8),
    ("Cited references (BibTeX, for Zotero, Mendeley, EndNote)", "export-bibtex", 8),
    ("Comparison table (Markdown)", "export-table-markdown", 6),
    ("Comparison table (CSV, for a spreadsheet)", "export-table-csv", 6),
)


@dataclass
class Layout:
    """The components the handlers read and write."""

    turns: Any
    answer: Any
    chatbot: Any
    compare_html: Any
    textbox: Any
    send: Any
    compare_btn: Any
    clear: Any
    header: Any = None
    collection: Any = None  # the selector
    picked: Any = None  # this browser session's collection (State)
    author: Any = None
    source: Any = None
    year_min: Any = None
    year_max: Any = None
    k: Any = None
    backend: Any = None
    exports: tuple[Any, ...] = ()  # Markdown, BibTeX, table Markdown, table CSV
    sources_html: Any = None
    paper_filter: Any = None
    sort_by: Any = None
    order: Any = None
    table: Any = None


def _export_box(label: str, elem_id: str, lines: int) -> gr.Textbox:
    """A read-only text box with a copy button, for one export format."""
    return gr.Textbox(
        label=label, lines=lines, buttons=["copy"], interactive=False, elem_id=elem_id
    )


def build_layout(settings: Settings, papers: list[Paper], collections: list[str]) -> Layout:
    """Lay out the header and both tabs (inside an open Blocks) for the configured collection,
    holding `papers`, among `collections`."""
    with gr.Row(equal_height=True):
        with gr.Column(scale=4):
            title = gr.Markdown(
                header(settings.collection, papers),
                elem_id="header",
                elem_classes="paperchat-header",
            )
        with gr.Column(scale=1, min_width=220):
            selector = gr.Dropdown(
                collections,
                value=settings.collection,
                label="Collection",
                elem_id="collection",
                interactive=len(collections) > 1,  # a single collection shows, greyed out
            )
    turns, answer = gr.State([]), gr.State(None)
    with gr.Tab("Chat"), gr.Row(equal_height=False):
        with gr.Column(scale=3):
            layout = _conversation(turns, answer)
            gr.Examples(EXAMPLES, inputs=layout.textbox, label="Example questions")
            _search_options(layout, settings, source_names(papers))
            with gr.Accordion("Export the answer and the comparison table", open=False):
                layout.exports = tuple(_export_box(*box) for box in EXPORTS)
        with gr.Column(scale=2):
            gr.Markdown("### Sources")
            layout.sources_html = gr.HTML(EMPTY_SOURCES, elem_id="sources-panel", js_on_load=None)
    with gr.Tab("Papers"):
        _papers_tab(layout, papers)
    layout.header, layout.collection = title, selector
    layout.picked = gr.State(settings.collection)
    return layout


def _conversation(turns: Any, answer: Any) -> Layout:
    """The chat, the comparison panel, the question box and its buttons."""
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
        compare_btn = gr.Button("Compare the cited papers", size="sm", elem_id="compare")
        clear = gr.Button("New chat", size="sm", elem_id="new-chat")
    return Layout(turns, answer, chatbot, compare_html, textbox, send, compare_btn, clear)


def _search_options(layout: Layout, settings: Settings, sources: list[str]) -> None:
    """Filters (author, source file, years), the number of papers and the backend."""
    with gr.Accordion("Search options", open=False):
        with gr.Row():
            layout.author = gr.Textbox(
                label="Author filter", placeholder="e.g. Chak Tou Leong", elem_id="author-filter"
            )
            layout.source = gr.Dropdown(
                [ALL_SOURCES, *sources],
                value=ALL_SOURCES,
                label="Source file",
                elem_id="source-filter",
            )
        with gr.Row():
            layout.year_min = gr.Number(
                label="From year", precision=0, elem_id="year-min", value=None
            )
            layout.year_max = gr.Number(
                label="To year", precision=0, elem_id="year-max", value=None
            )
        with gr.Row():
            layout.k = gr.Slider(
                1,
                10,
                value=min(max(settings.top_k, 1), 10),
                step=1,
                label="Number of papers",
                elem_id="top-k",
            )
            layout.backend = gr.Dropdown(
                list(BACKENDS),
                value=settings.backend if settings.backend in BACKENDS else "auto",
                label="Backend",
                elem_id="backend",
            )


def _papers_tab(layout: Layout, papers: list[Paper]) -> None:
    """The filter box, sort controls and the table of every indexed paper."""
    with gr.Row():
        layout.paper_filter = gr.Textbox(
            label="Filter papers",
            placeholder="title, author, year, source or identifier…",
            elem_id="paper-filter",
            scale=3,
        )
        layout.sort_by = gr.Dropdown(
            SORT_COLUMNS, value="Year", label="Sort by", elem_id="paper-sort", scale=1
        )
        layout.order = gr.Radio(
            [DESCENDING, ASCENDING],
            value=DESCENDING,
            label="Order",
            elem_id="paper-order",
            scale=1,
        )
    layout.table = gr.Dataframe(
        value=paper_rows(papers),
        headers=PAPER_COLUMNS,
        datatype=["str", "str", "str", "str", "markdown"],
        column_widths=["38%", "24%", "7%", "15%", "16%"],
        interactive=False,
        wrap=True,
        elem_id="papers-table",
    )
