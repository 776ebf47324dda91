"""The OpenAI chat-completions wire format as paperchat speaks it: the request checks, the
error bodies, and an answer as message text (`[n]` markers and a References block) plus the
`paperchat` extension field (citations, claims, quotes). Used by `ui.api`, the server."""

import json
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag import Answer

MAX_BODY_BYTES = 1 << 20  # a request body beyond 1 MiB is refused (413)
MAX_MESSAGES = 200
OWNER = "paperchat"
ROLES = {"system", "developer", "user", "assistant", "tool"}


class ApiError(Exception):
    """An error the API answers with an OpenAI-style body."""

    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind
        self.code, self.param = code, param

    def body(self) -> dict[str, Any]:
        """The OpenAI error body."""
        return {
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        }


def _text_of(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        ]
        if len(parts) == len(content):
            return "\n".join(str(p) for p in parts)
        raise ApiError(400, "only text content parts are supported", param="messages")
    raise ApiError(
        400, "message content must be a string or a list of text parts", param="messages"
    )


def parse_request(raw: bytes) -> dict[str, Any]:
    """Validate a chat-completions body; return model, question, history, stream, k."""
    from rag import MAX_QUESTION_CHARS, Turn

    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(
            413, f"the request body is larger than {MAX_BODY_BYTES} bytes", code="request_too_large"
        )
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(
            400, f"the request body is not valid JSON ({exc})", code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object", code="invalid_json")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(
            400,
            "you must provide a model parameter (a collection name; see /v1/models)",
            param="model",
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty list of messages", param="messages")
    if len(messages) > MAX_MESSAGES:
        raise ApiError(
            400,
            f"too many messages ({len(messages)}; the limit is {MAX_MESSAGES})",
            param="messages",
        )
    turns: list[tuple[str, str]] = []
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise ApiError(
                400, "each message needs a role: system, user or assistant", param="messages"
            )
        if m["role"] in {"user", "assistant"}:
            turns.append((m["role"], _text_of(m.get("content")).strip()))
    if not turns or turns[-1][0] != "user" or not turns[-1][1]:
        raise ApiError(
            400, "the last message must be a user message with the question", param="messages"
        )
    question = turns[-1][1]
    if len(question) > MAX_QUESTION_CHARS:
        raise ApiError(
            400,
            f"the question is too long ({len(question)} characters; "
            f"the limit is {MAX_QUESTION_CHARS})",
            code="context_length_exceeded",
            param="messages",
        )
    history: list[Turn] = []
    pending: str | None = None
    for role, text in turns[:-1]:
        if role == "user":
            pending = text
        elif pending is not None:
            history.append(Turn(question=pending, answer=_strip_references(text)))
            pending = None
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ApiError(400, "'stream' must be true or false", param="stream")
    return {"model": model, "question": question, "history": history[-10:], "stream": stream}


REFERENCES = "\n\nReferences\n"


def _strip_references(text: str) -> str:
    """An earlier answer without its References block (history carries the answer only)."""
    return text.split(REFERENCES, 1)[0].strip()


def answer_content(answer: "Answer") -> str:
    """The answer text with its `[n]` markers, then a References block, one line a source."""
    from rag import references

    pairs = references.cited_papers(answer)
    if not pairs:
        return answer.text
    return (
        answer.text.rstrip()
        + REFERENCES
        + "\n".join(references.reference_line(c, p) for c, p in pairs)
    )


def extension(answer: "Answer", collection: str) -> dict[str, Any]:
    """The structured side of an answer: citations (with links), claims, quotes, notices."""
    from rag import references

    return {
        "collection": collection,
        "citations": [
            {**references.citation_record(c, p), "passage": c.passage}
            for c, p in references.cited_papers(answer)
        ],
        "claims": [
            {
                "text": c.text,
                "citations": list(c.citations),
                "quote": c.quote,
                "source": c.source,
                "supported": c.supported,
                "status": c.status,
                "score": round(c.score, 4),
            }
            for c in answer.claims
        ],
        "abstained": answer.abstained,
        "backend": answer.backend,
        "model": answer.model,
        "notices": list(answer.notices),
        "timings": answer.timings,
    }


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def usage_of(question: str, content: str) -> dict[str, int]:
    prompt, completion = len(question.split()), len(content.split())  # words, not model tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
