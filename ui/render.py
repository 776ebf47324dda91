"""Pure HTML rendering for the chat UI: answers with citation links, and source cards.

Every piece of corpus text (titles, authors, abstracts, passages, answer text quoting them)
is untrusted and goes through `html.escape` before it reaches the page.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence

from rag import Answer, Citation, Claim, Hit, compare, split_sentences
from ui.papers import ingest_command

_MARKER = re.compile(r"\[(\d{1,3})\]")

EMPTY_SOURCES = (
    '<div class="sources-empty">Sources for the latest answer appear here. '
    "Click a citation like [1] to jump to its paper.</div>"
)


def esc(text: object) -> str:
    """Escape any value for safe inclusion in HTML (quotes included)."""
    return html.escape("" if text is None else str(text), quote=True)


_BOLD = re.compile(r"\*\*(.+?)\*\*")
_BULLET = re.compile(r"(^|\n)[-*] ")


def _text(text: str) -> str:
    """Escape text for the chat (rendered as HTML, not Markdown).

    Keeps line breaks and the two bits of Markdown the answers use: `**bold**` and `- ` bullets.
    Not markdown-it-py (which Gradio ships): it wraps each piece between two citation links in
    its own block (<p>, <ul>), breaking the sentence the links sit in.
    """
    out = _BULLET.sub(lambda m: m.group(1) + "• ", esc(text))
    out = _BOLD.sub(r"<b>\1</b>", out)
    return out.replace("\n", "<br>")


def linkify(
    text: str, valid: Iterable[int] | None = None, quotes: dict[int, str] | None = None
) -> str:
    """Escape answer text and turn `[n]` markers into links to source card `#src-n`.

    With `valid`, only markers whose number is in it become links; others stay text. With
    `quotes`, a link carries its supporting sentence (shown on hover or tap, highlighted in
    the source card on click).
    """
    allowed = None if valid is None else set(valid)
    out: list[str] = []
    pos = 0
    for m in _MARKER.finditer(text):
        n = int(m.group(1))
        if allowed is not None and n not in allowed:
            continue
        out.append(_text(text[pos : m.start()]))
        quote = (quotes or {}).get(n)
        # The quote rides inside the link (the chat sanitises attributes away): CSS shows it
        # on hover or focus, the click handler highlights it in the source card.
        inner = f'<span class="cite-quote">{esc(quote)}</span>' if quote else ""
        out.append(f'<a href="#src-{n}" class="cite" data-cite="{n}">[{n}]{inner}</a>')
        pos = m.end()
    out.append(_text(text[pos:]))
    return "".join(out)


def _claim_html(claim: Claim, valid: list[int]) -> str:
    quotes = {claim.source: claim.quote} if claim.source and claim.quote else {}
    body = linkify(claim.display, valid, quotes)
    if claim.supported:
        return f'<span class="claim {esc(claim.status)}">{body}</span>'
    why = (
        "No retrieved paper supports this claim "
        f"(best support score {claim.score:.2f}); it is the model's own text."
    )
    return f'<span class="claim unsupported">{body}<span class="claim-why">{esc(why)}</span></span>'


def answer_body(answer: Answer) -> str:
    """Answer text as HTML: claims wrapped with their status, citations linked with quotes."""
    valid = [c.n for c in answer.citations]
    out: list[str] = []
    pos = 0
    for claim in answer.claims:
        at = answer.text.find(claim.display, pos) if claim.display else -1
        if at < 0:
            continue
        out.append(linkify(answer.text[pos:at], valid))
        out.append(_claim_html(claim, valid))
        pos = at + len(claim.display)
    out.append(linkify(answer.text[pos:], valid))
    return "".join(out)


def footer(answer: Answer) -> str:
    """Describe how an answer was made: backend, model, time, or that it abstained."""
    parts = [answer.backend]
    if answer.model:
        parts.append(answer.model)
    total = answer.timings.get("total_ms")
    if total is not None:
        parts.append(f"{total:.0f} ms")
    if answer.abstained:
        parts.append("abstained")
    if answer.unsupported_claims:
        parts.append(f"{answer.unsupported_claims} unsupported claim(s) marked")
    return " · ".join(parts)


def render_answer(answer: Answer) -> str:
    """Render a finished answer as chat-message HTML: linked citations, notices, footer."""
    body = answer_body(answer)
    notices = "".join(f'<div class="answer-notice">ℹ️ {esc(n)}</div>' for n in answer.notices)
    meta = f'<div class="answer-meta">{esc(footer(answer))}</div>'
    if answer.model_reply and answer.fallback:
        meta += (
            f'<details class="model-reply"><summary>The model\'s own reply (not shown: '
            f"{esc(answer.fallback)})</summary><p>{esc(answer.model_reply)}</p></details>"
        )
    if answer.abstained:
        return f'<div class="answer abstained">⚠️ {body}</div>{notices}{meta}'
    return f'<div class="answer">{body}</div>{notices}{meta}'


def render_partial(text: str) -> str:
    """Render answer text still being streamed."""
    return f'<div class="answer streaming">{linkify(text)}</div>'


def render_error(message: str) -> str:
    """Render a user-facing error as a chat message."""
    return f'<div class="answer error">⚠️ <b>Error:</b> {esc(message)}</div>'


def render_empty_collection(collection: str) -> str:
    """The chat's reply in a collection with no papers: how to add some (a note, not an error)."""
    return (
        f'<div class="answer empty-collection">ℹ️ The collection <b>{esc(collection)}</b> holds '
        f"no papers yet. Add some with <code>{esc(ingest_command(collection))}</code>, then ask "
        "again.</div>"
    )


def _authors(authors: tuple[str, ...], limit: int = 8) -> str:
    if not authors:
        return "Authors not listed"
    shown = ", ".join(authors[:limit])
    if len(authors) > limit:
        shown += f" and {len(authors) - limit} more"
    return shown


def _abstract_for(answer: Answer, paper_id: str) -> str:
    for h in answer.hits:
        if h.paper.id == paper_id:
            return h.paper.abstract
    return ""


def source_card(c: Citation, abstract: str = "") -> str:
    """Render one cited paper as a card with a stable id `src-n`."""
    year = f" · {esc(c.year)}" if c.year else ""
    source = f'<div class="card-source">Source: {esc(c.source)}</div>' if c.source else ""
    passage = f'<blockquote class="card-passage">{esc(c.passage)}</blockquote>' if c.passage else ""
    sentences = "".join(f'<span class="sent">{esc(x)}</span> ' for x in split_sentences(abstract))
    details = (
        f'<details class="card-abstract"><summary>Full abstract</summary>'
        f"<p>{sentences.strip()}</p></details>"
        if abstract
        else ""
    )
    return (
        f'<div class="source-card" id="src-{c.n}" data-n="{c.n}">'
        f'<div class="card-head"><span class="card-n">[{c.n}]</span> '
        f'<span class="card-title">{esc(c.title)}</span></div>'
        f'<div class="card-authors">{esc(_authors(c.authors))}{year}</div>'
        f"{source}{passage}{details}</div>"
    )


def other_hit(h: Hit) -> str:
    """Render a retrieved-but-uncited paper as a collapsed entry."""
    p = h.paper
    year = f" ({esc(p.year)})" if p.year else ""
    src = ", ".join(p.source_names)
    return (
        f'<details class="other-hit"><summary>{esc(p.title)}{year}</summary>'
        f'<div class="card-authors">{esc(_authors(p.authors))}</div>'
        f'<div class="card-source">Source: {esc(src)}</div>'
        f"<p>{esc(p.abstract)}</p></details>"
    )


def render_sources(answer: Answer | None) -> str:
    """Render the Sources panel for an answer: cited cards, then other retrieved papers."""
    if answer is None:
        return EMPTY_SOURCES
    cited_ids = {c.paper_id for c in answer.citations}
    parts: list[str] = []
    if answer.citations:
        parts.append(f'<div class="sources-heading">Cited sources ({len(answer.citations)})</div>')
        parts.extend(source_card(c, _abstract_for(answer, c.paper_id)) for c in answer.citations)
    others = [h for h in answer.hits if h.paper.id not in cited_ids]
    if others:
        label = "Closest papers" if answer.abstained else "Also retrieved"
        parts.append(
            f'<div class="sources-heading other-heading">{label} ({len(others)})</div>'
            f'<div class="other-hits">{"".join(other_hit(h) for h in others)}</div>'
        )
    if not parts:
        return '<div class="sources-empty">No papers were retrieved for this question.</div>'
    return f'<div class="sources">{"".join(parts)}</div>'


def _cited_cell(text: str | None, n: int) -> str:
    """One comparison cell: the sentence with its `[n]` link (the link carries the sentence,
    so a click highlights it in the source card), or "—"."""
    if not text:
        return f'<td class="cell-empty">{compare.EMPTY}</td>'
    quote = f'<span class="cite-quote">{esc(text)}</span>'
    link = f'<a href="#src-{n}" class="cite" data-cite="{n}">[{n}]{quote}</a>'
    return f"<td>{esc(text)} {link}</td>"


def render_comparison(rows: Sequence[compare.Row]) -> str:
    """The comparison table: one row per cited paper, titles linked, every cell cited."""
    if not rows:
        return render_compare_note("This answer cites no papers to compare.")
    head = "".join(f"<th>{esc(h)}</th>" for h in ("#", "Paper", "Year"))
    head += "".join(f'<th class="aspect">{esc(compare.HEADERS[a])}</th>' for a in compare.ASPECTS)
    body = []
    for r in rows:
        title = esc(r.title) or compare.EMPTY
        if r.link:
            title = f'<a href="{esc(r.link)}" target="_blank" rel="noopener noreferrer">{title}</a>'
        cells = "".join(_cited_cell(r.cell(a), r.n) for a in compare.ASPECTS)
        body.append(
            f'<tr class="compare-row" data-n="{r.n}"><td class="compare-n">[{r.n}]</td>'
            f'<td class="compare-title">{title}</td><td class="compare-year">'
            f"{esc(r.year) if r.year else compare.EMPTY}</td>{cells}</tr>"
        )
    return (
        f'<div class="compare"><div class="sources-heading">Comparison of the {len(rows)} cited '
        f"paper{'s' * (len(rows) > 1)} (sentences from each abstract)</div>"
        f'<table class="compare-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def render_compare_note(message: str) -> str:
    """A one-line note in place of the comparison table."""
    return f'<div class="compare-note">{esc(message)}</div>'
