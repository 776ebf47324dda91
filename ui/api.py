"""An OpenAI-compatible chat API over paperchat: `/v1/models` and `/v1/chat/completions`.

Any OpenAI client (the `openai` SDK, llama-index's `OpenAILike`, Open WebUI, LibreChat, curl)
talks to it. The model name picks the collection; the answer text carries `[n]` markers and a
"References" block; the structured citations, claims and quotes ride in the extension field
`paperchat` of the response (of the last chunk when streaming). Earlier user/assistant turns in
`messages` are the conversation history. Errors are OpenAI-style bodies with the right status.

`paperchat api` serves it alone; `paperchat serve --api` mounts it beside the chat UI.
"""

import asyncio
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ui.openai_wire import (
    MAX_BODY_BYTES,
    OWNER,
    ApiError,
    answer_content,
    completion_id,
    extension,
    parse_request,
    usage_of,
)
from ui.shell import err, fail, settings, user_errors

if TYPE_CHECKING:
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from rag import Answer, Libraries, PaperChat, Settings

log = logging.getLogger("paperchat.api")

LOOPBACK = ("127.0.0.1", "localhost", "::1")
CONCURRENT_ANSWERS = 4  # answers computed at once (as the UI's queue); others wait their turn


def _session(libraries: "Libraries", collection: str) -> "PaperChat":
    """The loaded index of `collection`: ApiError 404 when there is no such collection, 503
    when it cannot be loaded."""
    from rag import PaperchatError, collections

    try:
        return libraries.get(collection).open()
    except collections.CollectionError:
        raise ApiError(
            404,
            f"the model {collection!r} does not exist: use a collection from /v1/models",
            code="model_not_found",
            param="model",
        ) from None
    except PaperchatError as exc:
        raise ApiError(503, str(exc), kind="server_error", code="index_unavailable") from None


def build_api(
    base: "Settings",
    api_key: str | None = None,
    session: "Libraries | PaperChat | None" = None,
) -> "FastAPI":
    """A FastAPI app with the API's routes: one model per collection, each served by a
    `rag.Library` opened on first use (`session`: the libraries to share, or a PaperChat
    already loaded on the base collection)."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, StreamingResponse

    from rag import Libraries, PaperchatError

    app = FastAPI(title="paperchat API", docs_url=None, redoc_url=None, openapi_url=None)
    libraries = session if isinstance(session, Libraries) else Libraries(base, session)
    gate = asyncio.Semaphore(CONCURRENT_ANSWERS)

    def check_key(request: Request) -> None:
        _check_key(request.headers.get("authorization", ""), api_key)

    def error_response(exc: ApiError) -> "JSONResponse":
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.get("/v1/models")
    async def models(request: Request) -> JSONResponse:
        try:
            check_key(request)
            names = await asyncio.to_thread(libraries.names)
        except ApiError as exc:
            return error_response(exc)
        except PaperchatError as exc:
            return error_response(ApiError(503, str(exc), kind="server_error"))
        data = [{"id": n, "object": "model", "created": 0, "owned_by": OWNER} for n in names]
        return JSONResponse({"object": "list", "data": data})

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> Any:
        try:
            check_key(request)
            size = request.headers.get("content-length")
            if size and size.isdigit() and int(size) > MAX_BODY_BYTES:
                raise ApiError(
                    413,
                    f"the request body is larger than {MAX_BODY_BYTES} bytes",
                    code="request_too_large",
                )
            parsed = parse_request(await request.body())
            session = await asyncio.to_thread(_session, libraries, parsed["model"])
        except ApiError as exc:
            return error_response(exc)
        if parsed["stream"]:
            chunks = _sse(session, parsed, gate)
            return StreamingResponse(
                chunks,
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        try:
            async with gate:
                answer = await asyncio.to_thread(_answer, session, parsed)
        except ApiError as exc:
            return error_response(exc)
        return JSONResponse(_completion(answer, parsed))

    return app


def _check_key(sent: str, api_key: str | None) -> None:
    """ApiError 401 unless the Authorization header carries the API key (when one is set)."""
    if api_key is None:
        return
    scheme, _, token = sent.partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip(), api_key):
        raise ApiError(
            401,
            "missing or wrong API key (Authorization: Bearer <PAPERCHAT_API_KEY>)",
            code="invalid_api_key",
        )


def _completion(answer: "Answer", parsed: dict[str, Any]) -> dict[str, Any]:
    """A non-streaming chat.completion body for an answer."""
    content = answer_content(answer)
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": parsed["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": usage_of(parsed["question"], content),
        OWNER: extension(answer, parsed["model"]),
    }


def _answer(session: "PaperChat", parsed: dict[str, Any]) -> "Answer":
    """Run the pipeline; a user-facing failure becomes an ApiError, anything else a 500."""
    from rag import PaperchatError, QuestionError

    try:
        return session.ask(parsed["question"], history=parsed["history"])
    except QuestionError as exc:
        raise ApiError(400, str(exc), param="messages") from None
    except PaperchatError as exc:
        raise ApiError(503, str(exc), kind="server_error") from None
    except Exception:
        log.exception("answer failed")
        raise ApiError(
            500, "the answer failed on the server; see its log", kind="server_error"
        ) from None


def _pieces(text: str, size: int = 24) -> Iterator[str]:
    """Split text into small deltas at spaces (a stream a client can render as it comes)."""
    words = text.split(" ")
    for start in range(0, len(words), size):
        yield " ".join(words[start : start + size]) + (" " if start + size < len(words) else "")


async def _sse(
    session: "PaperChat", parsed: dict[str, Any], gate: asyncio.Semaphore
) -> AsyncIterator[bytes]:
    """The answer as chat.completion.chunk events: role, content deltas, the final chunk with the
    `paperchat` extension, then [DONE]. The checked answer is sent (the claim check may change
    the model's draft, so the draft is not streamed)."""
    ident, created, model = completion_id(), int(time.time()), parsed["model"]

    def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        chunk = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            **extra,
        }
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode()

    yield event({"role": "assistant", "content": ""})
    try:
        async with gate:
            answer = await asyncio.to_thread(_answer, session, parsed)
    except ApiError as exc:
        yield f"data: {json.dumps(exc.body())}\n\n".encode()
        yield b"data: [DONE]\n\n"
        return
    content = answer_content(answer)
    for piece in _pieces(content):
        yield event({"content": piece})
    yield event(
        {}, "stop", usage=usage_of(parsed["question"], content), **{OWNER: extension(answer, model)}
    )
    yield b"data: [DONE]\n\n"


def install_error_handlers(app: "FastAPI") -> None:
    """Every error as an OpenAI-style body: unknown routes, wrong methods, crashes."""
    from fastapi import Request
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        return JSONResponse(
            ApiError(exc.status_code, str(exc.detail), code=code).body(),
            status_code=exc.status_code,
        )

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request failed")
        return JSONResponse(
            ApiError(500, "internal server error", kind="server_error").body(), status_code=500
        )


def key_for(s: "Settings", host: str) -> str | None:
    """The API key to require; exits with one line when binding beyond loopback without one."""
    key = s.api_key.get_secret_value() if s.api_key else None
    if host not in LOOPBACK and not key:
        fail(
            f"serving the API on {host} needs a key: set PAPERCHAT_API_KEY (clients send it as "
            "`Authorization: Bearer <key>`), or bind to 127.0.0.1",
            2,
        )
    return key


def api_command(
    host: Annotated[
        str, typer.Option(help="Address to bind; beyond loopback PAPERCHAT_API_KEY is required.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
) -> None:
    """Serve the OpenAI-compatible API alone: /v1/models and /v1/chat/completions.

    Point any OpenAI client at http://HOST:PORT/v1 and use a collection name as the model.
    """
    s = settings()
    key = key_for(s, host)
    import uvicorn

    with user_errors():
        app = build_api(s, key)
        install_error_handlers(app)
        err.print(f"paperchat API on http://{host}:{port}/v1 (models: collections)")
        uvicorn.run(app, host=host, port=port, log_level="warning")


def serve_with_ui(s: "Settings", host: str, port: int, api_key: str | None) -> None:
    """The Gradio chat UI at / and the API at /v1 on one uvicorn server."""
    import gradio as gr
    import uvicorn

    from rag import Libraries, PaperChat, PaperchatError
    from ui.app import build_app
    from ui.shell import readback_progress
    from ui.theme import FONT, FONT_MONO

    print("paperchat: loading the index and the embedding model…", flush=True)
    session: PaperChat | None = None
    try:
        with readback_progress() as progress:
            session = PaperChat(s, progress=progress)
        session.warm()
    except PaperchatError as exc:  # the UI shows it as a chat error; the API as a 503
        log.warning("index not ready: %s", exc)
        session = None
    libraries = Libraries(s, session)  # one Library per collection, for the UI and the API
    blocks = build_app(s, libraries)
    blocks.queue(default_concurrency_limit=CONCURRENT_ANSWERS)
    app = build_api(s, api_key, libraries)
    theme = gr.themes.Default(font=FONT, font_mono=FONT_MONO)  # as ui.app's launch
    app = gr.mount_gradio_app(
        app, blocks, path="", auth=s.auth_pair(), theme=theme, footer_links=[]
    )
    print(f"paperchat UI ready on http://{host}:{port} (OpenAI-compatible API at /v1)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
