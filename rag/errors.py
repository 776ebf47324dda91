"""The one base class for failures a user can fix, and the one way to make error text one line."""

from __future__ import annotations


class PaperchatError(Exception):
    """A user-facing error whose message is a complete, single-line explanation."""


def one_line(text: str, limit: int = 300) -> str:
    """Squash a message onto one line (control characters included) and cap its length."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def exc_detail(exc: BaseException, limit: int = 200) -> str:
    """An exception's message on one line, or its type's name when it has none."""
    return one_line(str(exc), limit) or type(exc).__name__
