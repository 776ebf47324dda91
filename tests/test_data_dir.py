"""Runs from anywhere: the per-user data folder, --data-dir, the old ./.paperchat, the seeds."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.config import Settings
from rag.paths import seeds_dir
from tests.conftest import SEEDS
from ui.cli import app

runner = CliRunner()


def test_the_default_index_is_in_the_per_user_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PAPERCHAT_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert Settings(_env_file=None).data_dir == tmp_path / "xdg" / "paperchat"  # type: ignore[call-arg]
    monkeypatch.setenv("PAPERCHAT_DATA_DIR", str(tmp_path / "elsewhere"))
    assert Settings(_env_file=None).data_dir == tmp_path / "elsewhere"  # type: ignore[call-arg]


def test_the_data_dir_option_wins_over_the_variable(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--data-dir", str(tmp_path / "flagged"), "stats"])
    assert result.exit_code == 1
    assert "flagged" in result.output and "paperchat ingest" in result.output


def test_an_old_dot_paperchat_is_pointed_out_once(tmp_path: Path) -> None:
    (tmp_path / ".paperchat" / "chroma").mkdir(parents=True)  # the tests' cwd is tmp_path
    first = runner.invoke(app, ["stats"])
    assert "--data-dir .paperchat" in first.output and "mv " in first.output
    second = runner.invoke(app, ["stats"])
    assert "earlier paperchat" not in second.output


def test_no_note_when_the_old_folder_is_the_one_in_use(tmp_path: Path) -> None:
    (tmp_path / ".paperchat" / "chroma").mkdir(parents=True)
    result = runner.invoke(app, ["--data-dir", ".paperchat", "stats"])
    assert "earlier paperchat" not in result.output


def test_ingest_without_paths_away_from_the_checkout_says_what_to_give(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ingest"])
    assert result.exit_code == 2
    assert "paperchat ingest ~/papers/" in result.output and "paperchat demo" in result.output
    assert "Traceback" not in result.output


def test_the_seed_files_are_found_and_verbatim() -> None:
    found = seeds_dir()
    assert found is not None
    names = sorted(p.name for p in SEEDS.glob("*.txt"))
    assert sorted(p.name for p in found.glob("*.txt")) == names and len(names) == 5
    assert all(filecmp.cmp(found / n, SEEDS / n, shallow=False) for n in names)
