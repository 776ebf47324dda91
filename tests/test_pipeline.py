"""Answers over the seed index: retrieval, citations, abstention, follow-ups, the LLM path."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest

from rag.answer.llm import ChatMessage, LLMUnavailable, OpenAIChat
from rag.pipeline import PaperChat, QuestionError, Turn
from rag.retrieval.retrieve import Filters
from rag.text import split_sentences
from tests.conftest import make_settings


class ScriptedChat:
    """A deterministic chat model at the protocol boundary: replies with a fixed script."""

    name = "scripted"

    def __init__(self, reply: str | Exception) -> None:
        self.reply = reply
        self.seen: list[Sequence[ChatMessage]] = []

    def stream(self, messages: Sequence[ChatMessage]) -> Iterator[str]:
        self.seen.append(messages)
        if isinstance(self.reply, Exception):
            raise self.reply
        yield from re.findall(r"\S+\s*", self.reply)

    def complete(self, messages: Sequence[ChatMessage]) -> str:
        return "".join(self.stream(messages))


def _with_chat(seed_session: PaperChat, chat: object, evidence: str = "abstracts") -> PaperChat:
    """The seed session answering with `chat`; the model reads whole abstracts unless told."""
    session = PaperChat.__new__(PaperChat)
    session.__dict__.update(seed_session.__dict__)
    session.settings = seed_session.settings.model_copy(update={"llm_evidence": evidence})
    session._chat = chat  # type: ignore[assignment]
    return session


def test_author_question_finds_the_authors_papers(seed_session: PaperChat) -> None:
    answer = seed_session.ask("What has Chak Tou Leong worked on?")
    assert not answer.abstained and len(answer.citations) == 10
    assert all("Chak Tou Leong" in c.authors for c in answer.citations)


def test_extractive_answer_cites_every_line(seed_session: PaperChat) -> None:
    answer = seed_session.ask("Which papers shorten chain-of-thought reasoning, and how?")
    assert answer.backend == "extractive" and not answer.abstained
    assert any("TokenSkip" in c.title for c in answer.citations)
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
    assert cited == {c.n for c in answer.citations}
    for line in answer.text.splitlines()[1:]:
        assert re.search(r"\[\d+\]", line)
    for c in answer.citations:  # every quoted sentence is in the answer, cited
        for sentence in split_sentences(c.passage):
            assert f"{sentence.rstrip('.!?')} [{c.n}]" in answer.text
    assert set(answer.timings) == {"retrieval_ms", "generation_ms", "total_ms"}


@pytest.mark.parametrize(
    "question", ["What is the boiling point of ethanol?", "Who won the 2018 FIFA World Cup?"]
)
def test_abstains_when_the_collection_does_not_cover_it(
    seed_session: PaperChat, question: str
) -> None:
    answer = seed_session.ask(question)
    assert answer.abstained and answer.citations == ()
    assert "does not cover" in answer.text and len(answer.hits) > 0


def test_filters_restrict_papers(seed_session: PaperChat) -> None:
    hits = seed_session.search("safety alignment", k=5, filters=Filters(author="Leong")).hits
    assert hits and all(any("Leong" in a for a in h.paper.authors) for h in hits)
    hits = seed_session.search("reward models", k=5, filters=Filters(source="004_")).hits
    assert hits and all(any("004_" in s for s in h.paper.source_names) for h in hits)
    hits = seed_session.search("language models", k=5, filters=Filters(year_min=2024)).hits
    assert hits and all(h.paper.year and h.paper.year >= 2024 for h in hits)


def test_a_narrow_filter_gets_dense_scores_for_its_own_papers(
    seed_session: PaperChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a large index the nearest chunks of the whole collection hold few of a narrow
    filter's papers; Chroma is then asked for the nearest of theirs. With the candidates cut
    to 12 chunks, a question far from an author's work still gets dense scores for each of
    the author's papers returned; filtered afterwards only, it gets them for none."""
    from rag.retrieval import retrieve

    monkeypatch.setattr(retrieve, "MIN_DENSE_CANDIDATES", 1)
    question = "scheduling a combined heat and power system with renewable generation"
    narrow = Filters(author="Chak Tou Leong")
    hits = seed_session.search(question, k=1, filters=narrow, mode="dense").hits
    assert hits and all(h.dense_score > 0 for h in hits)
    hits = seed_session.search(question, k=5, filters=narrow, mode="dense").hits
    assert len(hits) == 5 and all(h.dense_score > 0 for h in hits)
    assert all(any("Leong" in a for a in h.paper.authors) for h in hits)
    monkeypatch.setattr(retrieve, "FILTERED_IDS", 0)  # the filter applied afterwards only
    after = seed_session.search(question, k=1, filters=narrow, mode="dense").hits
    assert all(h.dense_score == 0 for h in after)
    # the papers' own chunk vectors, scored here, give Chroma's similarity
    monkeypatch.setattr(retrieve, "MIN_DENSE_CANDIDATES", 400)
    topical = "safety alignment of chat models"
    chroma = {h.paper.id: h.dense_score for h in seed_session.search(topical, 5, narrow).hits}
    monkeypatch.setattr(retrieve, "FILTERED_IDS", 500)
    ours = {h.paper.id: h.dense_score for h in seed_session.search(topical, 5, narrow).hits}
    assert chroma.keys() == ours.keys() and all(v > 0 for v in ours.values())
    assert all(abs(ours[p] - chroma[p]) < 1e-4 for p in ours)


def test_follow_up_uses_the_conversation(seed_session: PaperChat) -> None:
    first = seed_session.ask("How does STeCa calibrate agent trajectories?")
    follow = seed_session.ask(
        "What are its limitations?", history=[Turn(first.question, first.text)]
    )
    assert follow.citations and "STeCa" in follow.citations[0].title


@pytest.mark.parametrize("bad", ["", "   \n\t", "x" * 5000])
def test_bad_questions_raise_one_line_errors(seed_session: PaperChat, bad: str) -> None:
    with pytest.raises(QuestionError) as info:
        seed_session.ask(bad)
    assert "\n" not in str(info.value)


def test_llm_answer_checked_and_invalid_citations_removed(seed_session: PaperChat) -> None:
    chat = ScriptedChat("TokenSkip skips unimportant tokens [1]. Another claim [9].")
    answer = _with_chat(seed_session, chat).ask("How can CoT be compressed?", backend="openai")
    assert answer.backend == "openai" and answer.model == "scripted"
    assert answer.text == "TokenSkip skips unimportant tokens [1]. Another claim."
    assert answer.removed_citations == ("[9]",) and [c.n for c in answer.citations] == [1]
    system, user = chat.seen[0]
    assert "[1]" in system.content and '<source id="1">' in user.content
    assert "ignore any" in system.content.lower()


def test_dead_endpoint_falls_back_to_extractive_with_notice(seed_session: PaperChat) -> None:
    chat = ScriptedChat(LLMUnavailable("cannot reach the chat endpoint at http://127.0.0.1:9"))
    answer = _with_chat(seed_session, chat).ask(
        "How does TokenSkip compress CoT?", backend="openai"
    )
    assert answer.backend == "extractive" and answer.citations
    assert any("unavailable" in n for n in answer.notices)


def test_openai_wire_format_streams_through_the_pipeline(seed_session: PaperChat) -> None:
    """The real OpenAIChat client against a recorded SSE stream at the HTTP layer."""
    seen: list[httpx.Request] = []
    chunks = ["TokenSkip ", "skips tokens ", "[1]", "."]
    body = (
        "".join(
            'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
            f'"choices":[{{"index":0,"delta":{{"content":"{c}"}},"finish_reason":null}}]}}\n\n'
            for c in chunks
        )
        + "data: [DONE]\n\n"
    )

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})

    client = OpenAIChat(
        "m",
        "sk-test-key",
        "http://llm.test/v1",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    session = _with_chat(seed_session, client)
    deltas = [
        x
        for x in session.stream("How does TokenSkip work?", backend="openai")
        if isinstance(x, str)
    ]
    assert deltas == chunks
    assert seen[0].url.path == "/v1/chat/completions"
    assert seen[0].headers["authorization"] == "Bearer sk-test-key"


def test_auto_backend_follows_the_environment(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    assert make_settings(tmp_path).resolved_backend() == "extractive"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:11434/v1")
    assert make_settings(tmp_path).resolved_backend() == "openai"


def test_author_filter_scopes_a_vague_question(seed_session: PaperChat) -> None:
    answer = seed_session.ask(
        "What has this author worked on?", filters=Filters(author="Qingyu Yin")
    )
    assert not answer.abstained and answer.citations
    assert all("Qingyu Yin" in c.authors for c in answer.citations)
    off_topic = seed_session.ask(
        "What is the boiling point of ethanol?", filters=Filters(author="Yin")
    )
    assert off_topic.abstained


def test_a_unique_surname_is_enough(seed_session: PaperChat) -> None:
    retriever = seed_session.retriever
    assert retriever.match_author("Which papers has Leong written?") == "chak tou leong"
    assert retriever.match_author("What did Wang write?") is None  # several authors named Wang
    assert retriever.match_author("Long chain-of-thought reasoning") is None  # first word


def test_single_paper_answer_gives_its_best_cited_sentences(seed_session: PaperChat) -> None:
    answer = seed_session.ask("How does STeCa build its calibrated trajectories?")
    assert len(answer.citations) == 1
    assert answer.text.count("[1]") >= 2 and "reflection" in answer.text


def test_sources_are_left_out_whole_to_fit_the_context(seed_session: PaperChat) -> None:
    from rag.answer.prompt import estimate_tokens, fit_messages

    hits = seed_session.search("reward models for reasoning", k=5).hits
    full, kept = fit_messages("q?", hits, context_tokens=100_000, answer_tokens=500)
    assert kept == 5
    size = sum(estimate_tokens(m.content) for m in full)
    small, kept = fit_messages("q?", hits, context_tokens=size - 100, answer_tokens=500)
    assert 1 <= kept < 5
    assert small[1].content.count("<source id=") == kept
    assert small[1].content.count("</source>") == kept  # no source cut in half
    _, kept = fit_messages("q?", hits, context_tokens=10, answer_tokens=500)
    assert kept == 1


def test_llm_answer_notes_sources_left_out(seed_session: PaperChat) -> None:
    session = _with_chat(seed_session, ScriptedChat("TokenSkip skips tokens [1]."))
    session.settings = session.settings.model_copy(update={"llm_context_tokens": 1200})
    answer = session.ask("How can CoT be compressed?", backend="openai")
    assert any("left out to fit" in n for n in answer.notices)


def test_fallback_can_be_turned_off(seed_session: PaperChat) -> None:
    chat = ScriptedChat(LLMUnavailable("cannot reach the chat endpoint at http://127.0.0.1:9"))
    session = _with_chat(seed_session, chat)
    session.settings = session.settings.model_copy(update={"llm_fallback": False})
    with pytest.raises(LLMUnavailable):
        session.ask("How does TokenSkip compress CoT?", backend="openai")


class RewritingChat(ScriptedChat):
    """Rewrites follow-ups with a fixed reply, then answers with another."""

    def __init__(self, rewrite: str, reply: str) -> None:
        super().__init__(reply)
        self.rewrite = rewrite
        self.rewrites: list[Sequence[ChatMessage]] = []

    def complete(self, messages: Sequence[ChatMessage]) -> str:
        self.rewrites.append(messages)
        return self.rewrite


def test_llm_condenses_follow_ups(seed_session: PaperChat) -> None:
    chat = RewritingChat("What are the limitations of TokenSkip?", "It may lose accuracy [1].")
    session = _with_chat(seed_session, chat)
    history = [Turn("How does TokenSkip compress CoT?", "It skips tokens [1].")]
    answer = session.ask("and its limitations?", backend="openai", history=history)
    assert "TokenSkip" in chat.rewrites[0][1].content  # the conversation was shown
    assert "TokenSkip" in answer.citations[0].title
    assert "limitations of TokenSkip" in chat.seen[0][1].content  # standalone question asked


def test_standalone_question_after_others_is_not_rewritten(seed_session: PaperChat) -> None:
    # a rewrite is a whole model call before retrieval; a new question needs none
    chat = RewritingChat("What is the capital of France?", "TokenSkip skips tokens [1].")
    session = _with_chat(seed_session, chat)
    history = [Turn("How does STeCa calibrate trajectories?", "It compares rewards [1].")]
    question = "Which method compresses chain-of-thought by skipping less important tokens?"
    answer = session.ask(question, backend="openai", history=history)
    assert chat.rewrites == []
    assert question in chat.seen[0][1].content
    assert "TokenSkip" in answer.citations[0].title


@pytest.mark.parametrize(
    ("question", "follow_up"),
    [
        ("and its limitations?", True),
        ("Which of them uses RL?", True),
        ("Does it work on GSM8K?", True),  # the word refers back before the name comes
        ("How does TokenSkip compare to it?", True),  # ... or ends the question
        ("What is PISA and which listening data was it evaluated on?", False),  # PISA's 'it'
        ("How does ReCUT get its final model?", False),
        ("What is GRPO?", False),
        ("Is there a paper that uses deep reinforcement learning to schedule power grids?", False),
    ],
)
def test_follow_up_detection(question: str, follow_up: bool) -> None:
    from rag.answer.conversation import is_follow_up

    assert is_follow_up(question) is follow_up


def test_failed_condense_falls_back_to_the_deterministic_rule() -> None:
    from rag.answer.conversation import condense_with_llm

    class Broken(ScriptedChat):
        def complete(self, messages: Sequence[ChatMessage]) -> str:
            raise LLMUnavailable("down")

    history = [Turn("How does STeCa calibrate trajectories?", "It compares rewards [1].")]
    standalone = condense_with_llm(Broken(""), "what are its limitations?", history)
    assert standalone == "How does STeCa calibrate trajectories? what are its limitations?"


def test_library_api_reuses_one_session(seed_settings, embedder) -> None:  # type: ignore[no-untyped-def]
    import rag

    rag._LIBRARIES[rag._key(seed_settings)] = rag.Library(
        seed_settings, chat=PaperChat(seed_settings, embedder=embedder)
    )
    copy = seed_settings.model_copy()
    assert rag.session(copy) is rag.session(seed_settings)
    answer = rag.ask("How does STeCa calibrate trajectories?", copy)
    assert answer.citations and answer.citations[0].title.startswith("STeCa")
    assert rag.search("token skipping", copy, k=2).hits[0].paper.title.startswith("TokenSkip")


def echo_backend(chat: Any, job: Any) -> Any:
    """A backend for the registry test: the best paper's title, cited and checked."""
    from rag.answer.backends import citation
    from rag.records import Answer

    hit = chat.answer_hits(job.retrieval)[0]
    grounded = chat.checker.check(f"{hit.paper.abstract.split('. ')[0]} [1].", [hit])
    yield grounded.text
    return Answer(
        question=job.question,
        text=grounded.text,
        citations=(citation(1, hit, grounded.claims[0].quote or ""),),
        abstained=False,
        backend="echo",
        model=None,
        hits=job.retrieval.hits,
        claims=grounded.claims,
    )


def test_a_backend_is_one_function_and_one_registry_line(
    seed_session: PaperChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pydantic import ValidationError

    from rag import config, registry

    monkeypatch.setitem(registry.REGISTRY, "echo", "tests.test_pipeline:echo_backend")
    monkeypatch.setattr(config, "BACKENDS", ("auto", *registry.REGISTRY))
    answer = seed_session.ask("How does STeCa calibrate trajectories?", backend="echo")
    assert answer.backend == "echo" and answer.citations[0].title.startswith("STeCa")
    assert answer.claims[0].supported and answer.timings["total_ms"] > 0
    with pytest.raises(ValidationError):
        seed_session.settings.model_validate({"backend": "nonesuch"})


def test_a_pointer_to_code_is_no_answer_unless_the_code_is_asked_for(
    seed_session: PaperChat,
) -> None:
    """ThinkTuning's abstract ends "Source code is available at https://github.com/...": a
    question about the method never gets that line (nor does a model's evidence lead with
    it); a question for the code does."""
    from rag.answer.evidence import choose_evidence

    method = seed_session.ask("What does ThinkTuning do?", backend="extractive")
    assert "ThinkTuning" in method.citations[0].title and "github.com" not in method.text
    hits = seed_session.answer_hits(seed_session.search("What does ThinkTuning do?"))
    evidence = choose_evidence(seed_session.extractor, hits, "What does ThinkTuning do?", 10)
    assert not any("github.com" in e.text for e in evidence[:4])
    code = seed_session.ask("Where is the source code of ThinkTuning?", backend="extractive")
    assert "github.com/3rdAT/ThinkTuning" in code.text
