"""`paperchat serve`: the chat UI as a command (gradio is imported only when it runs).

Registered in the `paperchat.commands` entry-point group (pyproject.toml), so `ui.cli`
never imports this module by name.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ui.shell import err, settings, user_errors

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve(
    host: Annotated[str, typer.Option(help="Address to bind; anything but loopback is public.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 7860,
    api: Annotated[
        bool,
        typer.Option(
            "--api",
            help="Also serve the OpenAI-compatible API at /v1 on the same port (beyond loopback "
            "it needs PAPERCHAT_API_KEY); `paperchat api` serves it alone.",
        ),
    ] = False,
) -> None:
    """Start the chat UI (Gradio) in the browser: streamed cited answers and a sources panel."""
    s = settings()
    if api:
        from ui.api import key_for, serve_with_ui

        key = key_for(s, host)
    if host not in LOOPBACK and s.auth is None:
        err.print(
            f"[yellow]warning:[/yellow] serving on {host} without a login; "
            "set PAPERCHAT_AUTH=user:password to require one"
        )
    with user_errors():
        if api:
            serve_with_ui(s, host, port, key)
        else:
            from ui.app import serve as run_server

            run_server(s, host=host, port=port)
