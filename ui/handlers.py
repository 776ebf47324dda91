"""What the chat UI does when used: answer (streamed), compare, start over, list papers,
switch collections.

The handlers hold `rag.Libraries`: one `rag.Library` per collection, the one door to its index.
It loads the index on first use (a missing index shows as a chat error), follows ingests and
reports a busy index. Each browser session's collection rides in a `gr.State`, so one user's
choice never changes another's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterator
from typing import Any

import gradio as gr

from rag import (
    Answer,
    Filters,
    Libraries,
    PaperChat,
    PaperchatError,
    Turn,
    compare,
    references,
)
from ui.papers import DESCENDING, header, paper_rows, source_names
from ui.render import (
    EMPTY_SOURCES,
    render_answer,
    render_compare_note,
    render_comparison,
    render_empty_collection,
    render_error,
    render_partial,
    render_sources,
)
from ui.shell import Redraws

log = logging.getLogger(__name__)

ALL_SOURCES = "All sources"


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


class Handlers:
    """The UI's event handlers over the libraries of a store's collections."""

    def __init__(self, libraries: Libraries) -> None:
        self.libraries = libraries

    def respond(
        self,
        message: str,
        chat: list[dict[str, Any]],
        turns: list[Turn],
        collection: str,
        author: str,
        source: str,
        year_min: float | None,
        year_max: float | None,
        k: float,
        backend: str,
    ) -> Iterator[tuple[Any, ...]]:
        """Stream an answer into the chat; with the finished one, fill sources and exports.

        Yields (chat, turns, sources, textbox, markdown export, BibTeX export, answer state,
        comparison HTML, comparison Markdown, comparison CSV).
        """
        chat = list(chat or [])
        turns = list(turns or [])
        question = message or ""
        chat.append({"role": "user", "content": question})
        chat.append({"role": "assistant", "content": ""})
        keep = gr.update()
        # sources, textbox, exports, answer state and table change only with a finished answer
        unchanged = (keep, "", keep, keep, keep, keep, keep, keep)

        def say(html: str, *rest: Any) -> tuple[Any, ...]:
            chat[-1] = {"role": "assistant", "content": html}
            return (chat, turns, *(rest or unchanged))

        yield say(render_partial("…"))
        filters = make_filters(author, source, year_min, year_max)
        try:
            library = self.libraries.get(collection)
            pc = library.open()
            if not pc.retriever.papers:  # the loaded index's list: no copy per question
                yield say(render_empty_collection(collection))
                return
            answer, table = yield from self._answer(pc, question, k, filters, backend, turns, say)
        except PaperchatError as exc:
            yield say(render_error(str(exc)))
            return
        except Exception as exc:  # never show a traceback in the chat
            log.exception("unexpected error answering %r", question)
            holder = self.libraries.busy()
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
            references.to_markdown(answer),
            references.answer_bibtex(answer),
            answer,
            *table,
        )

    @staticmethod
    def _answer(
        pc: PaperChat,
        question: str,
        k: float,
        filters: Filters | None,
        backend: str,
        turns: list[Turn],
        say: Callable[..., tuple[Any, ...]],
    ) -> Generator[tuple[Any, ...], None, tuple[Answer | None, tuple[str, str, str]]]:
        """Yield the draft as it streams (paced by `Redraws`); return (the answer, its
        comparison table)."""
        text, redraws = "", Redraws()
        answer: Answer | None = None
        for item in pc.stream(
            question,
            k=int(k) if k else None,
            filters=filters,
            backend=None if backend == "auto" else backend,
            history=turns,
        ):
            if isinstance(item, str):
                text += item
                if redraws.due():
                    yield say(render_partial(text))
            else:
                answer = item
        table = ("", "", "")
        if answer and compare.wants_comparison(question) and len(answer.citations) > 1:
            table = comparison(pc, answer)
        return answer, table

    def compare_last(self, collection: str, answer: Answer | None) -> tuple[str, str, str]:
        """The comparison table of the last answer (or a note why there is none)."""
        if answer is None:
            note = "Ask a question first: the table compares the papers an answer cites."
            return render_compare_note(note), "", ""
        try:
            return comparison(self.libraries.get(collection).open(), answer)
        except PaperchatError as exc:
            return render_compare_note(f"No comparison: {exc}"), "", ""

    @staticmethod
    def new_chat() -> tuple[Any, ...]:
        """Empty every output of `respond`."""
        return [], [], EMPTY_SOURCES, "", "", "", None, "", "", ""

    def collections(self) -> list[str]:
        """The collections to choose from; the configured one alone when the store cannot be
        listed (the chat then says why)."""
        try:
            return self.libraries.names()
        except PaperchatError as exc:
            log.warning("could not list the collections: %s", exc)
            return [self.libraries.default]

    def selector(self) -> Any:
        """The selector's choices as the store holds them now (a collection made since the
        server started shows on the next page load); greyed out when there is one."""
        names = self.collections()
        return gr.update(choices=names, interactive=len(names) > 1)

    def papers(self, collection: str) -> list[Any]:
        """Every paper of a collection (its catalog, as `paperchat papers` reads it); an index
        that cannot be read shows as an empty table."""
        try:
            return self.libraries.get(collection).papers()
        except PaperchatError as exc:
            log.warning("could not load the papers of %s: %s", collection, exc)
            return []

    def list_papers(
        self, collection: str, query: str, sort_by: str, order: str = DESCENDING
    ) -> list[list[str]]:
        """The Papers table's rows for the filter box and sort controls."""
        return paper_rows(self.papers(collection), query, sort_by, order)

    def switch(self, collection: str, query: str, sort_by: str, order: str) -> tuple[Any, ...]:
        """Answer from another collection in this browser session: the header, the source
        filter and the Papers table show its papers, the conversation starts over.

        Returns (the session's collection, header, source filter, Papers rows, *`new_chat()`).
        """
        papers = self.papers(collection)
        sources = gr.update(choices=[ALL_SOURCES, *source_names(papers)], value=ALL_SOURCES)
        rows = paper_rows(papers, query, sort_by, order)
        return (collection, header(collection, papers), sources, rows, *self.new_chat())
