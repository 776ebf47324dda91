"""The Gradio chat UI: ask questions, read cited answers, inspect the sources.

Its parts: `ui.theme` (fonts, stylesheet, page script), `ui.layout` (the components),
`ui.handlers` (what happens when it is used), `ui.papers` (the Papers table), `ui.render`
(HTML). This module wires them over a `rag.Library` and serves the result.
"""

from __future__ import annotations

import logging

import gradio as gr

from rag import IndexBusy, Library, PaperChat, PaperchatError, Settings
from ui.handlers import ALL_SOURCES, Handlers, comparison, make_filters
from ui.layout import TITLE, build_layout
from ui.papers import paper_row, paper_rows
from ui.shell import readback_progress
from ui.theme import LOAD_JS, Blocks

__all__ = [
    "ALL_SOURCES",
    "IndexBusy",
    "build_app",
    "comparison",
    "make_filters",
    "paper_row",
    "paper_rows",
    "serve",
]

log = logging.getLogger(__name__)


def build_app(settings: Settings, session: Library | PaperChat | None = None) -> gr.Blocks:
    """Build the chat UI over an index; `session` (a Library, or a loaded PaperChat) is made
    from the settings if not given, and loads the index on first use."""
    library = session if isinstance(session, Library) else Library(settings, chat=session)
    handlers = Handlers(library)
    with Blocks(title=TITLE, fill_width=True) as app:
        ui = build_layout(library.settings, handlers.papers())
        inputs = [
            ui.textbox,
            ui.chatbot,
            ui.turns,
            ui.author,
            ui.source,
            ui.year_min,
            ui.year_max,
            ui.k,
            ui.backend,
        ]
        markdown, bibtex, table_markdown, table_csv = ui.exports
        outputs = [
            ui.chatbot,
            ui.turns,
            ui.sources_html,
            ui.textbox,
            markdown,
            bibtex,
            ui.answer,
            ui.compare_html,
            table_markdown,
            table_csv,
        ]
        ui.textbox.submit(handlers.respond, inputs, outputs, api_name="ask")
        ui.send.click(handlers.respond, inputs, outputs, api_visibility="private")
        ui.compare_btn.click(
            handlers.compare_last,
            ui.answer,
            [ui.compare_html, table_markdown, table_csv],
            api_visibility="private",
        )
        ui.clear.click(handlers.new_chat, None, outputs, queue=False)
        for control in (ui.paper_filter, ui.sort_by, ui.order):
            control.change(handlers.list_papers, [ui.paper_filter, ui.sort_by, ui.order], ui.table)
        app.load(None, None, None, js=LOAD_JS)
    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Launch the UI on host:port; PAPERCHAT_AUTH=user:password requires a login."""
    auth = settings.auth_pair()
    print("paperchat: loading the index and the embedding model…", flush=True)
    library = Library(settings)
    try:
        with readback_progress() as progress:
            library.open(progress)
        library.warm()  # the first answer is then as fast as the next ones
    except PaperchatError as exc:  # shown again, as a chat error, when a question is asked
        log.warning("index not ready: %s", exc)
    app = build_app(settings, library)
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
