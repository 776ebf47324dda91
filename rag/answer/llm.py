"""Chat-model client for any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server).

Uses the official `openai` client directly. Every failure surfaces as a one-line `LLMError`
(or `LLMUnavailable` when the endpoint cannot be reached) with the API key redacted.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from rag.errors import PaperchatError, one_line

if TYPE_CHECKING:  # openai and httpx are imported where a request is made: they cost ~1 s
    import httpx
    import openai
    from openai.types.chat import ChatCompletionMessageParam

NO_KEY = "not-needed"
REDACTED = "sk-…redacted"
MAX_RETRY_AFTER = 10.0
MAX_DETAIL = 200
_KEY_PATTERN = re.compile(r"sk-[A-Za-z0-9_-]{8,}")

# Overridable so tests do not wait; looked up at call time.
_sleep: Callable[[float], None] = time.sleep


class LLMError(PaperchatError):
    """One clear line for the user; never contains the API key."""


class LLMUnavailable(LLMError):
    """Endpoint unreachable: connection refused, DNS failure, or timeout (callers may fall back)."""


class StructuredUnsupported(LLMError):
    """The endpoint takes no JSON schema as `response_format` (callers ask for plain text)."""


# How a JSON schema is asked for, in the order tried: OpenAI's own form (OpenAI, vLLM, Ollama,
# llama.cpp's llama-server), then the `json_object` + `schema` form that llama-cpp-python's
# server takes (it answers the first with a 500 naming response_format).
FORMATS = ("json_schema", "json_object")
# The forms each `structured_output` setting tries. `auto` leaves out llama-cpp-python's form:
# that server applies the grammar to every vocabulary entry at every token (63 ms a token on
# 2 cores, 3.5x the decoding itself), and plain text gave the same grounded claims there.
FORMS_FOR = {"json": FORMATS, "auto": FORMATS[:1], "text": ()}
_FORMAT_REJECTED = re.compile(r"response_format|json_schema|json_object|grammar|schema", re.I)


@dataclass(frozen=True)
class ChatMessage:
    """One chat turn."""

    role: str  # "system" | "user" | "assistant"
    content: str


class ChatModel(Protocol):
    """What the answer pipeline needs from a chat model."""

    name: str

    def stream(self, messages: Sequence[ChatMessage]) -> Iterator[str]:
        """Yield the answer as text deltas."""
        ...

    def complete(self, messages: Sequence[ChatMessage]) -> str:
        """Return the whole answer."""
        ...


def close(stream: object) -> None:
    """Close a stream (a generator, an HTTP response) if it can be closed: ends the request."""
    end = getattr(stream, "close", None)
    if callable(end):
        end()


def redact(text: str, secret: str | None) -> str:
    """Replace the secret and anything shaped like an OpenAI key with a placeholder."""
    if secret:
        text = text.replace(secret, REDACTED)
    return _KEY_PATTERN.sub(REDACTED, text)


def _rejects_format(exc: openai.APIStatusError) -> bool:
    """Tell whether an error response rejects the request's response_format."""
    if exc.status_code in (400, 422):
        return True
    return exc.status_code >= 500 and bool(_FORMAT_REJECTED.search(_server_detail(exc)))


def _server_detail(exc: openai.APIStatusError) -> str:
    """Extract the server's own error message from an error response, if it has one."""
    body = exc.body  # already unwrapped from {"error": ...} by the openai client
    if isinstance(body, dict):
        message = body.get("message") or body.get("detail") or body.get("error")
        return one_line(str(message), MAX_DETAIL) if message else ""
    if isinstance(body, str) and not body.lstrip().startswith("<"):  # skip HTML error pages
        return one_line(body, MAX_DETAIL)
    return ""


# Own retry loop, not the SDK's max_retries: Retry-After is capped at 10 s (the SDK waits up to
# 60 s, too long for a chat answer) and the one-line error names how many attempts were made.
def _retry_delay(attempt: int, response: httpx.Response) -> float:
    """Return the wait before the next attempt: Retry-After if numeric, else 0.5 s doubling."""
    header = response.headers.get("retry-after")
    if header is not None:
        try:
            seconds = float(header)
        except ValueError:
            pass
        else:
            if seconds >= 0:
                return min(seconds, MAX_RETRY_AFTER)
    return 0.5 * 2.0 ** (attempt - 1)


class OpenAIEndpoint:
    """One model at an OpenAI-compatible endpoint: the client, retries and one-line errors."""

    kind = "chat"

    def __init__(
        self,
        model: str,
        api_key: str | None,
        base_url: str | None,
        timeout: float = 30.0,
        max_retries: int = 2,
        http_client: httpx.Client | None = None,
    ) -> None:
        """Build one openai client with its own retries off (we retry ourselves)."""
        import openai

        self.name = model
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self._secret = api_key or None
        self._client = openai.OpenAI(
            api_key=api_key or NO_KEY,
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
            http_client=http_client,
        )
        url = self._client.base_url
        port = f":{url.port}" if url.port else ""
        self.host = f"{url.scheme}://{url.host}{port}"

    def __repr__(self) -> str:
        """Show the model and host, never the key."""
        return f"{type(self).__name__}(model={self.name!r}, host={self.host!r})"

    def _call(self, request: Callable[[], Any], structured: bool = False) -> Any:
        """Run one API request, retrying 429/5xx with backoff and mapping failures to one line.

        With `structured`, an error that names the response format (a 400/422, or a 5xx whose
        message mentions it) raises StructuredUnsupported at once, without retries.
        """
        import openai

        attempts = self.max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return request()
            except openai.APIStatusError as exc:
                if structured and _rejects_format(exc):
                    raise StructuredUnsupported(
                        f"the endpoint at {self.host} takes no JSON schema "
                        f"({exc.status_code}: {_server_detail(exc) or 'rejected'})"
                    ) from None
                if (exc.status_code == 429 or exc.status_code >= 500) and attempt < attempts:
                    _sleep(_retry_delay(attempt, exc.response))
                    continue
                raise self._status_error(exc, attempt) from None
            except openai.APITimeoutError:
                raise self._unavailable(f"timed out after {self.timeout:g}s") from None
            except openai.APIConnectionError as exc:
                cause = exc.__cause__
                raise self._unavailable(str(cause) if cause else exc.message) from None
            except ValueError:  # a 200 whose JSON body does not parse
                raise self._error("the endpoint returned malformed JSON") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _status_error(self, exc: openai.APIStatusError, attempts: int) -> LLMError:
        """Map an HTTP error status to one clear line."""
        status = exc.status_code
        detail = _server_detail(exc)
        suffix = f": {detail}" if detail else ""
        if status in (401, 403):
            return self._error(
                f"the endpoint rejected the API key ({status}) — check OPENAI_API_KEY{suffix}"
            )
        if status == 404:
            return self._error(
                f"the endpoint at {self.host} does not serve model {self.name!r} (404) — check "
                f"the model name, or the base URL path (usually ends in /v1){suffix}"
            )
        if status == 400:
            return self._error(f"the endpoint rejected the request (400){suffix}")
        if status == 429 or status >= 500:
            noun = "attempt" if attempts == 1 else "attempts"
            reason = "rate limited" if status == 429 else "server error"
            return self._error(
                f"gave up after {attempts} {noun}: the endpoint at {self.host} kept answering "
                f"{status} ({reason}){suffix}"
            )
        return self._error(f"the endpoint answered HTTP {status}{suffix}")

    def _unavailable(self, reason: str) -> LLMUnavailable:
        """Build a redacted one-line LLMUnavailable naming the host."""
        text = f"cannot reach the {self.kind} endpoint at {self.host}: {reason}"
        return LLMUnavailable(one_line(redact(text, self._secret), 1000))

    def _error(self, text: str) -> LLMError:
        """Build a redacted one-line LLMError."""
        return LLMError(one_line(redact(text, self._secret), 1000))


class OpenAIChat(OpenAIEndpoint):
    """Chat model served by an OpenAI-compatible `/chat/completions` endpoint."""

    def __init__(
        self,
        model: str,
        api_key: str | None,
        base_url: str | None,
        temperature: float = 0.1,
        max_tokens: int = 500,
        timeout: float = 30.0,
        max_retries: int = 2,
        http_client: httpx.Client | None = None,
        forms: Sequence[str] = FORMATS,
    ) -> None:
        """Build the client; sampling settings apply to every request; `forms` are the
        response_format forms to try for a JSON schema (none: ask for plain text)."""
        super().__init__(model, api_key, base_url, timeout, max_retries, http_client)
        self.temperature = temperature
        self.max_tokens = max_tokens
        self._forms = tuple(forms)  # narrowed to the one the endpoint took, or emptied
        self.structured = bool(self._forms)  # the pipeline asks for JSON claims

    def stream(
        self, messages: Sequence[ChatMessage], schema: dict[str, Any] | None = None
    ) -> Iterator[str]:
        """Send the request now (errors raise here) and return an iterator of text deltas.

        With a JSON `schema`, the reply is constrained to it through `response_format`, in the
        first form the endpoint takes (remembered); StructuredUnsupported when it takes none.
        """
        if schema is None:
            return self._deltas(self._create(messages, stream=True))
        tried = " or ".join(self._forms)
        for form in self._forms:
            try:
                chunks = self._create(messages, stream=True, response_format=_form(form, schema))
            except StructuredUnsupported:
                continue
            self._forms = (form,)
            return self._deltas(chunks)
        self._forms, self.structured = (), False  # asked once: plain text from now on
        raise StructuredUnsupported(f"the endpoint at {self.host} takes no JSON schema ({tried})")

    def complete(self, messages: Sequence[ChatMessage]) -> str:
        """Return the whole answer from one non-streaming request."""
        response = self._create(messages, stream=False)
        if isinstance(response, str):  # openai returns the raw text for non-JSON bodies
            raise self._error("the endpoint did not return JSON — check the base URL")
        choices = getattr(response, "choices", None)
        if not isinstance(choices, list) or not choices:
            raise self._error("the endpoint returned a response with no choices")
        message = getattr(choices[0], "message", None)
        if message is None:
            raise self._error("the endpoint returned a malformed response (no message)")
        content = getattr(message, "content", None)
        return content if isinstance(content, str) else ""

    def _deltas(self, chunks: Any) -> Iterator[str]:
        """Yield non-empty content deltas, mapping mid-stream failures to LLMError."""
        import httpx
        import openai

        saw_choice = False
        try:
            for chunk in chunks:
                choices = getattr(chunk, "choices", None)
                if not isinstance(choices, list) or not choices:
                    continue  # e.g. a trailing usage-only chunk
                saw_choice = True
                text = getattr(getattr(choices[0], "delta", None), "content", None)
                if isinstance(text, str) and text:
                    yield text
        except (httpx.TimeoutException, openai.APITimeoutError):  # newer SDKs wrap the timeout
            raise self._unavailable(f"timed out after {self.timeout:g}s mid-answer") from None
        except (httpx.TransportError, openai.APIConnectionError) as exc:
            raise self._unavailable(f"the connection broke mid-answer: {exc}") from None
        except openai.APIError as exc:
            raise self._error(f"the endpoint reported an error mid-answer: {exc.message}") from None
        except ValueError:
            raise self._error("the endpoint sent a malformed stream (invalid JSON)") from None
        finally:
            close(chunks)
        if not saw_choice:
            raise self._error("the endpoint's stream contained no choices")

    def _create(
        self,
        messages: Sequence[ChatMessage],
        *,
        stream: bool,
        response_format: dict[str, Any] | None = None,
    ) -> Any:
        """Call chat.completions.create, retrying 429/5xx with backoff."""
        payload = cast(
            "list[ChatCompletionMessageParam]",
            [{"role": m.role, "content": m.content} for m in messages],
        )
        extra: dict[str, Any] = {}
        if response_format is not None:
            extra["response_format"] = response_format
        return self._call(
            lambda: self._client.chat.completions.create(
                model=self.name,
                messages=payload,
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                stream=stream,
                **extra,
            ),
            structured=response_format is not None,
        )


def _form(form: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The `response_format` body for one form of asking for a JSON schema."""
    if form == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    return {"type": "json_object", "schema": schema}
