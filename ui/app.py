"""The Gradio chat UI: ask questions, read cited answers, inspect the sources.

Its parts: `ui.theme` (fonts, stylesheet, page script), `ui.layout` (the components),
`ui.handlers` (what happens when it is used), `ui.papers` (the Papers table), `ui.render`
(HTML). This module wires them over `rag.Libraries` (one `rag.Library` per collection, the
selector picks one per browser session) and serves the result.
"""

from __future__ import annotations

import logging

import gradio as gr

from rag import IndexBusy, Libraries, Library, PaperChat, PaperchatError, Settings
from ui.handlers import ALL_SOURCES, Handlers, comparison, make_filters
from ui.layout import build_layout
from ui.papers import TITLE, paper_row, paper_rows
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


def build_app(
    settings: Settings, session: Libraries | Library | PaperChat | None = None
) -> gr.Blocks:
    """Build the chat UI over a store's collections, the configured one selected; `session` (the
    libraries to share, or a Library or loaded PaperChat on the configured collection) is made
    from the settings if not given, and loads each index on first use."""
    libraries = session if isinstance(session, Libraries) else Libraries(settings, session)
    handlers = Handlers(libraries)
    with Blocks(title=TITLE, fill_width=True) as app:
        papers = handlers.papers(libraries.default)
        ui = build_layout(libraries.base, papers, handlers.collections())
        inputs = [
            ui.textbox,
            ui.chatbot,
            ui.turns,
            ui.picked,
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
        asked = ui.textbox.submit(handlers.respond, inputs, outputs, api_name="ask")
        sent = ui.send.click(handlers.respond, inputs, outputs, api_visibility="private")
        ui.compare_btn.click(
            handlers.compare_last,
            [ui.picked, ui.answer],
            [ui.compare_html, table_markdown, table_csv],
            api_visibility="private",
        )
        ui.clear.click(handlers.new_chat, None, outputs, queue=False)
        table_controls = [ui.paper_filter, ui.sort_by, ui.order]
        for control in table_controls:
            control.change(handlers.list_papers, [ui.picked, *table_controls], ui.table)
        ui.collection.input(  # a user's pick only, not the choices refreshed on load
            handlers.switch,
            [ui.collection, *table_controls],
            [ui.picked, ui.header, ui.source, ui.table, *outputs],
            cancels=[asked, sent],  # an answer still streaming belongs to the old collection
            api_visibility="private",
        )
        app.load(handlers.selector, None, ui.collection, api_visibility="private")
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
