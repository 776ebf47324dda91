"""The llama-index retriever: one node per paper, and the README snippet run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from rag.config import Settings
from tests.conftest import ROOT


def readme_snippet() -> str:
    """The Python block of the README's "Use with llama-index" section."""
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("## Use with llama-index", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "no python block in the README's llama-index section"
    return match.group(1)


def test_one_node_per_paper_with_metadata_and_passages(seed_session) -> None:  # type: ignore[no-untyped-def]
    from llama_index.core.base.base_retriever import BaseRetriever
    from llama_index.core.schema import MetadataMode

    from rag.retrieval.llamaindex import PaperchatRetriever

    retriever = PaperchatRetriever(seed_session.settings, k=4, searcher=seed_session.retriever)
    assert isinstance(retriever, BaseRetriever)
    question = "How does STeCa calibrate trajectories?"
    nodes = retriever.retrieve(question)
    hits = seed_session.retriever.search(question, 4).hits
    assert [n.node.node_id for n in nodes] == [h.paper.id for h in hits]
    assert [n.score for n in nodes] == [h.score for h in hits]
    top = nodes[0].node
    assert top.metadata["title"].startswith("STeCa")
    assert top.get_content() == hits[0].paper.abstract
    assert top.metadata["passages"] == [p.text for p in hits[0].passages]
    for_llm = top.get_content(metadata_mode=MetadataMode.LLM)
    assert "title: STeCa" in for_llm and "passages" not in for_llm
    assert retriever.retrieve("   ") == []


def test_readme_snippet_runs_against_the_seed_index(seed_settings: Settings) -> None:
    env = os.environ | {"PAPERCHAT_DATA_DIR": str(seed_settings.data_dir)}
    probe = readme_snippet() + "\nimport sys\nprint('torch' in sys.modules)\n"
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert "TokenSkip" in run.stdout
    assert lines[-1] == "False"  # the default embedder answers without importing torch


def test_importing_rag_does_not_import_llama_index() -> None:
    code = "import sys, rag, ui.cli; assert 'llama_index.core' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(ROOT))


def test_query_engine_returns_the_checked_answer_and_cited_papers(seed_session) -> None:  # type: ignore[no-untyped-def]
    from llama_index.core.base.base_query_engine import BaseQueryEngine

    from rag.retrieval.llamaindex import PaperchatQueryEngine

    engine = PaperchatQueryEngine(session=seed_session)
    assert isinstance(engine, BaseQueryEngine)
    question = "What does TokenSkip do to chain-of-thought?"
    response = engine.query(question)
    answer = seed_session.ask(question)
    assert str(response) == answer.text
    assert [n.node.metadata["title"] for n in response.source_nodes] == [
        c.title for c in answer.citations
    ]
    claims = response.metadata["claims"]
    assert claims and all(c["supported"] and c["quote"] for c in claims)


def _grounded_llm(reply: str):  # type: ignore[no-untyped-def]
    """A llama-index LLM (CustomLLM) that always writes `reply`, streamed word by word."""
    from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata

    class Fixed(CustomLLM):
        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(model_name="fixed-llm")

        def complete(
            self, prompt: str, formatted: bool = False, **kw: object
        ) -> CompletionResponse:
            return CompletionResponse(text=reply)

        def stream_complete(self, prompt: str, formatted: bool = False, **kw: object):  # type: ignore[no-untyped-def]
            text = ""
            for word in re.findall(r"\S+\s*", reply):
                text += word
                yield CompletionResponse(text=text, delta=word)

    return Fixed()


def test_any_llama_index_llm_is_the_chat_model_and_its_answer_is_checked(
    seed_settings: Settings,
    embedder,  # type: ignore[no-untyped-def]
) -> None:
    from llama_index.core.llms import MockLLM

    from rag.pipeline import PaperChat
    from rag.retrieval.llamaindex import LlamaIndexChat

    question = "How does TokenSkip compress chain-of-thought?"
    good = LlamaIndexChat(_grounded_llm("TokenSkip lets LLMs skip less important tokens [1]."))
    answer = PaperChat(seed_settings, embedder, chat=good).ask(question, backend="openai")
    assert answer.model == "fixed-llm" and answer.backend == "openai" and answer.fallback is None
    assert [c.status for c in answer.claims] == ["cited"]
    # MockLLM echoes its prompt (rules, the refusal phrase, pasted sources): never shown as is
    echo = PaperChat(seed_settings, embedder, chat=LlamaIndexChat(MockLLM()))
    fallback = echo.ask(question, backend="openai")
    assert fallback.fallback and fallback.model_reply and "<source" not in fallback.text
    assert fallback.claims and all(c.supported for c in fallback.claims)
