"""`pip install .` into a new venv, then from an empty folder: demo, ask, the API (no torch)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.slow  # a fresh venv: ~1-3 min with pip's cache warm

SKIP = shutil.ignore_patterns(
    ".venv", ".git", ".paperchat", "__pycache__", "build", "*.egg-info", "tests", "docs", "lab",
    "out", ".mypy_cache", ".ruff_cache",
)  # fmt: skip


def test_pip_install_runs_from_an_empty_folder_without_torch(tmp_path: Path) -> None:
    src, venv, home = tmp_path / "src", tmp_path / "venv", tmp_path / "empty"
    shutil.copytree(ROOT, src, ignore=SKIP)
    home.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bin_ = venv / "bin"
    pip = subprocess.run(
        [str(bin_ / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         str(src)],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert pip.returncode == 0, pip.stderr[-3000:]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PAPERCHAT_", "OPENAI_", "CHROMA_"))
    }
    env |= {
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),  # the per-user data folder, fresh
        "PAPERCHAT_MODEL_CACHE": str(tmp_path / "models"),  # the weights fetched, graph built
        "PYTHONPATH": "",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(bin_ / "paperchat"), *args], capture_output=True, text=True, cwd=home, env=env,
            timeout=900,
        )  # fmt: skip

    heavy = subprocess.run(
        [str(bin_ / "python"), "-c", "import importlib.util as u; print([m for m in "
         "('torch', 'transformers', 'sentence_transformers') if u.find_spec(m)])"],
        capture_output=True, text=True, cwd=home, env=env,
    )  # fmt: skip
    assert heavy.stdout.strip() == "[]"
    demo = run("demo")
    assert demo.returncode == 0, demo.stderr
    assert "157 papers indexed" in demo.stdout
    assert (tmp_path / "xdg-data" / "paperchat" / "chroma").is_dir()
    assert not any(home.iterdir())  # nothing written where the user stands
    ask = run("ask", "How does STeCa calibrate trajectories?")
    assert ask.returncode == 0, ask.stderr
    assert "[1] STeCa" in ask.stdout
    port = free_port()
    server = subprocess.Popen(
        [str(bin_ / "paperchat"), "api", "--port", str(port)], cwd=home, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        from openai import OpenAI

        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0)
        deadline = time.monotonic() + 120
        while True:
            try:
                assert [m.id for m in client.models.list()] == ["paperchat"]
                break
            except Exception:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "the API did not come up"
                time.sleep(0.5)
        reply = client.chat.completions.create(
            model="paperchat",
            messages=[{"role": "user", "content": "How does STeCa calibrate trajectories?"}],
        )
        assert "[1]" in (reply.choices[0].message.content or "")
    finally:
        server.terminate()
        server.wait(30)
