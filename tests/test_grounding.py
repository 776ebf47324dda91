"""The claim check over the seed index: each rule, then recorded replies of real small models.

The chat model is replaced at the `ChatModel` protocol boundary by one that replays a reply;
everything else (retrieval, the bundled embedder, the claim check) is the real pipeline.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from eval.replies import Replay
from rag.answer.evidence import choose_evidence
from rag.answer.generate import PARTIAL_WORDS, write_claims
from rag.answer.grounding import UNSUPPORTED_MARK
from rag.pipeline import REFUSAL_MARGIN, PaperChat
from rag.records import Answer

REPLIES = Path(__file__).parent / "data" / "replies"
COT = "How does TokenSkip compress chain-of-thought?"


def _ask(
    seed_session: PaperChat,
    question: str,
    reply: str,
    structured: bool = False,
    **settings: object,
) -> Answer:
    """Replay `reply` as the model's answer; it read whole abstracts (cites sources) unless
    `llm_evidence="sentences"` is given (then its [n] are evidence numbers)."""
    session = PaperChat.__new__(PaperChat)
    session.__dict__.update(seed_session.__dict__)
    session._chat = Replay(reply, structured=structured)  # type: ignore[assignment]
    session.settings = seed_session.settings.model_copy(
        update={"llm_evidence": "abstracts", **settings}
    )
    return session.ask(question, backend="openai")


def assert_grounded(answer: Answer) -> None:
    """Every claim shown is cited and supported by a verbatim quote, or visibly marked."""
    abstracts = {
        c.n: h.paper.abstract
        for c in answer.citations
        for h in answer.hits
        if h.paper.id == c.paper_id
    }
    for claim in answer.claims:
        assert claim.display in answer.text
        if claim.supported:
            assert claim.citations and claim.source in claim.citations
            assert claim.quote and claim.quote in abstracts[claim.source]
            assert UNSUPPORTED_MARK not in claim.display
        else:
            assert not claim.citations and UNSUPPORTED_MARK in claim.display


def test_supported_claim_keeps_its_citation_and_quote(seed_session: PaperChat) -> None:
    answer = _ask(seed_session, COT, "TokenSkip lets LLMs skip less important tokens [1].")
    assert answer.backend == "openai" and answer.fallback is None
    (claim,) = answer.claims
    assert claim.status == "cited" and claim.citations == (1,)
    assert "skip less important tokens" in (claim.quote or "")
    assert_grounded(answer)


def test_uncited_claim_gets_the_citation_of_the_source_that_supports_it(
    seed_session: PaperChat,
) -> None:
    reply = (
        "TokenSkip is a simple yet effective approach that enables LLMs to selectively skip "
        "less important tokens, allowing for controllable CoT compression."
    )
    answer = _ask(seed_session, COT, reply)
    (claim,) = answer.claims
    assert claim.status == "added" and claim.supported
    assert answer.hits[claim.citations[0] - 1].paper.title.startswith("TokenSkip")
    assert "[1]" in answer.text and any("citation added" in n for n in answer.notices)


def test_claim_citing_the_wrong_source_is_recited(seed_session: PaperChat) -> None:
    reply = "TokenSkip reduces reasoning tokens by 40% on GSM8K with Qwen2.5-14B-Instruct [3]."
    answer = _ask(seed_session, COT, reply)
    (claim,) = answer.claims
    assert claim.status == "recited" and claim.model_citations == (3,)
    assert answer.hits[claim.citations[0] - 1].paper.title.startswith("TokenSkip")
    assert_grounded(answer)


def test_unsupported_claim_is_marked_and_counted(seed_session: PaperChat) -> None:
    reply = (
        "TokenSkip lets LLMs skip less important tokens [1]. "
        "It reduces reasoning tokens by 40% on GSM8K [1]. "
        "It was first trained on ImageNet with a generative adversarial network [1]."
    )
    answer = _ask(seed_session, COT, reply)
    assert answer.backend == "openai" and answer.unsupported_claims == 1
    bad = next(c for c in answer.claims if not c.supported)
    assert "ImageNet" in bad.text and f"{UNSUPPORTED_MARK}." in answer.text
    assert any("not supported" in n for n in answer.notices)
    assert_grounded(answer)


def test_a_number_the_source_does_not_state_is_not_supported(seed_session: PaperChat) -> None:
    answer = _ask(
        seed_session,
        COT,
        "TokenSkip lets LLMs skip less important tokens [1]. "
        "TokenSkip reduces reasoning tokens by 40% on GSM8K [1]. "
        "TokenSkip reduces reasoning tokens by 75% on GSM8K [1].",
    )
    by_text = {c.text: c.supported for c in answer.claims}
    assert by_text["TokenSkip reduces reasoning tokens by 40% on GSM8K."]
    assert not by_text["TokenSkip reduces reasoning tokens by 75% on GSM8K."]


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "   \n  ",
        "[1][2][3]",
        "[1] [2]. [3]",
        "- TokenSkip: Controllable Chain-of-Thought Compression in LLMs [1]\n"
        "- Towards Revealing the Mystery behind Chain of Thought: A Theoretical Perspective [2]",
        "[1] TokenSkip: Controllable Chain-of-Thought Compression in LLMs — Heming Xia, "
        "Yongqi Li, Chak Tou Leong, Wenjie Wang, Wenjie Li",
        "TokenSkip est une méthode qui permet aux modèles de sauter des jetons peu importants "
        "pendant le raisonnement [1]. Elle réduit la longueur des chaînes de pensée [1].",
        " ".join(
            f"In paragraph {i} we note that the weather in Paris is mild and the cafés are "
            f"pleasant in spring [1]."
            for i in range(200)
        ),
    ],
    ids=["empty", "blank", "markers", "markers-punct", "titles", "header", "french", "ramble"],
)
def test_a_reply_that_is_no_grounded_answer_falls_back(seed_session: PaperChat, reply: str) -> None:
    answer = _ask(seed_session, COT, reply)
    assert answer.backend == "extractive" and answer.fallback and not answer.abstained
    assert answer.model_reply == reply.strip()
    assert answer.citations and answer.claims and all(c.supported for c in answer.claims)
    (notice,) = answer.notices
    assert "extractive answer instead" in notice and "\n" not in notice


def test_refusal_with_strong_evidence_shows_the_extractive_answer_under_it(
    seed_session: PaperChat,
) -> None:
    answer = _ask(seed_session, COT, "The collection does not cover this.")
    assert not answer.abstained and answer.fallback == "the model declined to answer"
    assert answer.text.startswith("The model found no answer in the sources.")
    assert "Extractive answer:" in answer.text and "[1]" in answer.text
    assert_grounded(answer)


def test_refusal_with_borderline_evidence_abstains(seed_session: PaperChat) -> None:
    relevance = seed_session.search(COT).relevance
    answer = _ask(
        seed_session,
        COT,
        "The sources do not provide information about this.",
        min_relevance=relevance - REFUSAL_MARGIN / 2,
    )
    assert answer.abstained and answer.citations == ()


def _recorded() -> list[dict[str, object]]:
    rows = []
    for path in sorted(REPLIES.glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
    return rows


RECORDED = _recorded()


@pytest.mark.parametrize("row", RECORDED, ids=[f"{r['model']}-{r['qid']}" for r in RECORDED])
def test_recorded_replies_of_real_small_models_are_grounded_or_fall_back(
    seed_session: PaperChat, row: dict[str, object]
) -> None:
    evidence = str(row.get("evidence", "abstracts"))
    answer = _ask(
        seed_session,
        str(row["question"]),
        str(row["reply"]),
        structured=bool(row.get("structured")),
        llm_evidence=evidence,
    )
    if row["abstained"]:  # retrieval abstained before the model was asked
        assert answer.abstained
        return
    ranked = [h.paper.title for h in seed_session.search(str(row["question"])).hits]
    shown = list(row["sources"])  # type: ignore[call-overload]
    if evidence == "abstracts":  # every source number cited still names the paper shown
        cited = {int(n) for n in re.findall(r"\[(\d{1,2})\]", str(row["reply"]))}
        assert all(ranked[n - 1] == shown[n - 1] for n in cited if n <= len(shown))
    else:  # the evidence is chosen from the same papers, in the same order
        assert ranked == shown
    assert_grounded(answer)
    if answer.fallback is None:
        assert answer.backend == "openai"
        supported = sum(c.supported for c in answer.claims)
        assert supported >= 1 and supported >= answer.unsupported_claims
    else:
        assert answer.backend in ("extractive", "openai") and answer.model_reply is not None


EVIDENCE_PATH = [r for r in RECORDED if r.get("evidence") == "sentences"]


@pytest.mark.parametrize(
    "row", EVIDENCE_PATH, ids=[f"{r['model']}-{r['qid']}" for r in EVIDENCE_PATH]
)
def test_recorded_replies_stream_word_by_word_into_their_answer_lines(
    seed_session: PaperChat, row: dict[str, object]
) -> None:
    """The draft shows a claim's words as the model writes them, and the finished line
    continues them: the draft is the answer lines, never the model's evidence numbers."""
    question, structured = str(row["question"]), bool(row.get("structured"))
    hits = seed_session.search(question).hits
    evidence = choose_evidence(
        seed_session.extractor, hits, question, seed_session.settings.llm_evidence_units
    )
    drafting = write_claims(Replay(str(row["reply"])), question, evidence, hits, structured)
    items: list[str] = []
    while True:
        try:
            items.append(next(drafting))
        except StopIteration as done:
            written = done.value
            break
    assert "".join(items) == " ".join(written.lines)
    first = written.lines[0] if written.lines else ""
    if len(first.split()) > 2 * PARTIAL_WORDS:  # its words came before its citations did
        ahead = next(i for i, item in enumerate(items) if "[" in item or item.endswith("."))
        assert ahead >= 1 and first.startswith("".join(items[:ahead]))


def test_a_pasted_abstract_is_no_answer(seed_session: PaperChat) -> None:
    tokenskip = next(
        h.paper for h in seed_session.search(COT).hits if h.paper.title.startswith("TokenSkip")
    )
    reply = f"[1] {tokenskip.title} — {', '.join(tokenskip.authors)}\n{tokenskip.abstract}"
    answer = _ask(seed_session, COT, reply)
    assert answer.backend == "extractive" and "pastes" in (answer.fallback or "")
