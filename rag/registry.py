"""The answer backends by name, each "module:function" (imported when first used).

Adding a backend is one module with an `answer(chat, job)` function (see
`rag.answer.backends`) and one line here; settings, the CLI, the web UI and eval offer every
name listed. This module imports nothing, so `rag.config` can read it.
"""

REGISTRY: dict[str, str] = {
    "extractive": "rag.answer.backends.verbatim:answer",  # no LLM: the abstracts' own sentences
    "openai": "rag.answer.backends.model:answer",  # any OpenAI-compatible chat endpoint
}
NEEDS_ENDPOINT = frozenset({"openai"})  # backends that call a chat model (and condense with it)
