"""Where paperchat keeps its data by default, and where the bundled seed abstracts are.

The index lives in the platform's per-user data folder (platformdirs' `user_data_dir`:
~/.local/share/paperchat on Linux, ~/Library/Application Support/paperchat on macOS,
%LOCALAPPDATA%\\paperchat on Windows), so every folder a user runs paperchat from sees the same
index; `PAPERCHAT_DATA_DIR` or `--data-dir` points elsewhere.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

SEEDS_SHARE = ("share", "paperchat", "seeds")  # where the wheel puts corpus/seeds (data-files)
LEGACY_DATA_DIR = Path(".paperchat")  # the default before 0.2: relative to the current folder


def default_data_dir() -> Path:
    """The per-user data folder (created on first write, not here)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("paperchat", appauthor=False))


def seeds_dir() -> Path | None:
    """The five seed files: installed with the package, or this checkout's corpus/seeds."""
    prefixes = [sysconfig.get_path("data"), sys.prefix, sysconfig.get_path("data", "posix_user")]
    for prefix in prefixes:
        folder = Path(prefix).joinpath(*SEEDS_SHARE)
        if any(folder.glob("*.txt")):
            return folder
    checkout = Path(__file__).resolve().parents[1] / "corpus" / "seeds"
    return checkout if any(checkout.glob("*.txt")) else None
