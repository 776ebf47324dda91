"""Gradio chat UI for paperchat."""

from ui.app import build_app, serve

__all__ = ["build_app", "serve"]
