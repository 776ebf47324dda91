"""The LLM backend: a chat model at an OpenAI-compatible endpoint writes the answer.

By default the model reads numbered evidence sentences and writes JSON claims (see
docs/generation.md); with `llm_evidence = "abstracts"` it reads the abstracts whole and cites
them. Either way the claim check judges every claim, and a reply that is no grounded answer
gives way to the extractive one with the reason.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import replace

from rag.answer.backends import Answering, Job, citation
from rag.answer.citations import check_citations
from rag.answer.evidence import choose_evidence
from rag.answer.generate import compose_claims, write_claims
from rag.answer.grounding import Grounded
from rag.answer.llm import LLMUnavailable
from rag.answer.prompt import fit_messages, is_refusal
from rag.records import Answer, Citation, Hit
from rag.retrieval.retrieve import Retrieval

# A refusal is taken at its word unless the evidence clears the abstention bar by this much;
# then the refusal is shown with the extractive answer under it (see docs/grounding.md).
REFUSAL_MARGIN = 0.15
# A model that gives no claim when the evidence clears that bar is asked once more (see
# docs/generation.md for what it changed on the dev set).
RETRY_REFUSALS = True


def answer(chat: Answering, job: Job) -> Generator[str, None, Answer]:
    """The model's answer, from chosen evidence (or whole abstracts), checked claim by claim.

    A model that gives no claim although the evidence clearly covers the question is asked
    once more, with only the best paper's evidence and a nudge (RETRY_REFUSALS).
    """
    question, standalone, retrieval = job.question, job.standalone, job.retrieval
    if chat.settings.llm_evidence == "abstracts":
        return (yield from _from_abstracts(chat, job))
    model = chat.chat_model()
    hits = chat.answer_hits(retrieval)
    evidence = choose_evidence(chat.extractor, hits, standalone, chat.settings.llm_evidence_units)
    form = chat.settings.structured_output  # auto falls back to text without a word
    structured = form != "text" and bool(getattr(model, "structured", False))
    try:
        out = yield from write_claims(
            model, standalone, evidence, hits, structured, tell=form == "json"
        )
        notices = out.notices
        strong = retrieval.relevance >= chat.settings.min_relevance + REFUSAL_MARGIN
        if RETRY_REFUSALS and strong and not out.lines:
            best = [e for e in evidence if e.source == 1]
            out = yield from write_claims(model, standalone, best, hits, out.structured, nudge=True)
            notices += ("the model gave no claim at first; asked once more",) + out.notices
    except LLMUnavailable as exc:
        if not chat.settings.llm_fallback:
            raise
        return chat.fallback(question, retrieval, f"LLM endpoint unavailable ({exc})")
    removed = tuple(f"[{n}]" for n in dict.fromkeys(out.missing))
    notices += tuple(f"removed citation {r}: no such evidence" for r in removed)
    text = compose_claims(out, hits)
    answer = _judged(chat, question, retrieval, hits, text, out.reply, model.name, notices)
    timing = {"first_claim_ms": (out.first_claim - job.start) * 1000} if out.first_claim else {}
    return replace(answer, timings=timing, removed_citations=removed, model_reply=out.reply)


def _judged(
    chat: Answering,
    question: str,
    retrieval: Retrieval,
    hits: tuple[Hit, ...],
    text: str,
    reply: str,
    model: str,
    notices: tuple[str, ...],
) -> Answer:
    """The claim check's verdict on rendered claims: the answer, a refusal or a fallback.

    No claim is a refusal when the model wrote nothing, an empty JSON list or a refusal; a
    reply of tags, markers or titles alone is no claim (the extractive answer is shown)."""
    if is_refusal(text) or not text.strip() and _declined(reply):
        return chat.refused(question, retrieval, reply, model)
    grounded = chat.checker.check(text, hits)
    problem = grounded.problem(quoting=True)  # an empty text is "made no claim"
    if problem:
        answer = chat.fallback(question, retrieval, problem)
        return replace(answer, model=model, model_reply=reply, notices=notices + answer.notices)
    shown = _shown(question, grounded, hits, model, notices)
    return replace(shown, hits=hits + tuple(h for h in retrieval.hits if h not in hits))


def _declined(reply: str) -> bool:
    return not reply.strip() or reply.lstrip().startswith("{") or is_refusal(reply)


def _from_abstracts(chat: Answering, job: Job) -> Generator[str, None, Answer]:
    """The model reads the retrieved abstracts whole (llm_evidence = "abstracts")."""
    question, standalone, retrieval = job.question, job.standalone, job.retrieval
    model = chat.chat_model()
    s = chat.settings
    messages, kept = fit_messages(
        standalone, retrieval.hits, s.llm_context_tokens, s.max_answer_tokens
    )
    hits = retrieval.hits[:kept]
    notices: tuple[str, ...] = ()
    if kept < len(retrieval.hits):
        notices = (
            f"{len(retrieval.hits) - kept} lower-ranked sources left out to fit the "
            f"model's context window ({s.llm_context_tokens} tokens)",
        )
    parts: list[str] = []
    try:
        for delta in model.stream(messages):
            parts.append(delta)
            yield delta
    except LLMUnavailable as exc:
        if not s.llm_fallback:
            raise
        return chat.fallback(question, retrieval, f"LLM endpoint unavailable ({exc})")
    raw = "".join(parts).strip()
    if is_refusal(raw):
        return chat.refused(question, retrieval, raw, model.name)
    checked = check_citations(raw, len(hits))
    grounded = chat.checker.check(checked.text, hits)
    problem = grounded.problem() if raw else "the model's reply was empty"
    if problem:
        answer = chat.fallback(question, retrieval, problem)
        return replace(answer, model=model.name, model_reply=raw)
    notices += tuple(f"removed citation {r}: no such source" for r in checked.removed)
    shown = _shown(question, grounded, hits, model.name, notices)
    return replace(shown, removed_citations=checked.removed)


def _shown(
    question: str,
    grounded: Grounded,
    hits: Sequence[Hit],
    model: str,
    notices: tuple[str, ...],
) -> Answer:
    """The model's checked answer as shown: its claims, their citations and notices."""
    return Answer(
        question=question,
        text=grounded.text,
        citations=_llm_citations(grounded, hits),
        abstained=False,
        backend="openai",
        model=model,
        hits=tuple(hits),
        notices=notices + _claim_notices(grounded),
        claims=grounded.claims,
    )


def _llm_citations(grounded: Grounded, hits: Sequence[Hit]) -> tuple[Citation, ...]:
    """One Citation per source the checked claims cite, its passage the first quote from it."""
    quotes: dict[int, str] = {}
    for claim in grounded.claims:
        for n in claim.citations:
            if claim.source == n and claim.quote and not quotes.get(n):
                quotes[n] = claim.quote  # a quote from this source, even if cited earlier
            else:
                quotes.setdefault(n, "")
    return tuple(
        citation(n, hits[n - 1], quotes[n] or " ".join(p.text for p in hits[n - 1].passages[:1]))
        for n in sorted(quotes)
    )


def _claim_notices(grounded: Grounded) -> tuple[str, ...]:
    added = sum(c.status == "added" for c in grounded.claims)
    recited = sum(c.status == "recited" for c in grounded.claims)
    notes = []
    if grounded.unsupported:
        notes.append(
            f"{grounded.unsupported} of {len(grounded.claims)} claims are not supported by the "
            f"sources and are marked (unsupported)"
        )
    if added:
        notes.append(f"citation added to {added} uncited claim{'s' * (added > 1)}")
    if recited:
        notes.append(f"citation corrected on {recited} claim{'s' * (recited > 1)}")
    return tuple(notes)
