"""Named collections: each its own Chroma collection and catalog, embedded and on a server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.config import Settings
from rag.index import catalog, collections
from rag.index.writer import ingest
from rag.pipeline import PaperChat
from tests.conftest import SMALL_CORPUS, make_settings
from tests.test_chroma_server import _chroma_run
from ui.cli import app

runner = CliRunner()

OTHER = {
    "title": "Lichen Ledgers",
    "abstract": "Lichen ledgers record symbiotic growth of fungi and algae on granite. We "
    "measure growth rates over ten years in alpine fields.",
    "authors": ["Rachel Carson"],
    "year": 2020,
}


def _corpus(folder: Path, records: list[dict[str, object]]) -> Path:
    folder.mkdir(parents=True)
    (folder / "papers.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return folder


def _titles(settings: Settings, embedder, query: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.paper.title for h in PaperChat(settings, embedder=embedder).search(query, k=5).hits]


def _check_isolation(base: Settings, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    alpha = base.model_copy(update={"collection": "alpha"})
    beta = base.model_copy(update={"collection": "beta"})
    ingest([_corpus(tmp_path / "a", SMALL_CORPUS)], alpha, embedder)
    ingest([_corpus(tmp_path / "b", [OTHER])], beta, embedder)
    assert catalog.path_for(alpha) != catalog.path_for(beta)
    listed = {c.name: c.chunks for c in collections.list_collections(alpha)}
    assert set(listed) == {"alpha", "beta"} and listed["alpha"] >= 3 and listed["beta"] >= 1
    assert "Lichen Ledgers" not in _titles(alpha, embedder, "lichen growth on granite")
    alpha_pointer = catalog.path_for(alpha).read_text()

    # re-ingesting beta from scratch leaves alpha (collection and catalog) as it was
    assert ingest([tmp_path / "b"], beta, embedder, rebuild=True).added == 1
    assert catalog.path_for(alpha).read_text() == alpha_pointer
    assert {c.name: c.chunks for c in collections.list_collections(alpha)} == listed

    # renaming keeps the papers; deleting one leaves the other untouched
    collections.rename(beta, "beta", "gamma")
    gamma = base.model_copy(update={"collection": "gamma"})
    assert _titles(gamma, embedder, "lichen growth on granite")[0] == "Lichen Ledgers"
    collections.delete(alpha, "alpha")
    assert not catalog.path_for(alpha).exists()
    assert [c.name for c in collections.list_collections(gamma)] == ["gamma"]
    assert _titles(gamma, embedder, "lichen growth on granite")[0] == "Lichen Ledgers"


def test_collections_are_isolated_in_the_embedded_store(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    _check_isolation(make_settings(tmp_path / "data"), tmp_path, embedder)


@pytest.mark.slow
def test_collections_are_isolated_on_a_chroma_server(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    with _chroma_run(tmp_path / "server") as port:
        base = make_settings(tmp_path / "local", chroma_host="127.0.0.1", chroma_port=port)
        _check_isolation(base, tmp_path, embedder)


def test_names_are_checked_and_errors_are_one_line(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    with pytest.raises(collections.CollectionError, match="bad collection name"):
        collections.check_name("a b")
    with pytest.raises(collections.CollectionError, match="no collection 'nope'"):
        collections.delete(settings, "nope")
    collections.create(settings, "thesis")
    with pytest.raises(collections.CollectionError, match="already exists"):
        collections.create(settings, "thesis")


def test_the_collections_commands(tmp_path: Path) -> None:
    def cli(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), input=stdin)

    assert cli("collections", "create", "thesis").exit_code == 0
    assert cli("collections", "create", "review").exit_code == 0
    listed = json.loads(cli("collections", "list", "--json").stdout)
    assert [c["name"] for c in listed["collections"]] == ["review", "thesis"]
    assert listed["current"] == "paperchat"
    assert cli("collections", "use", "thesis").exit_code == 0
    assert json.loads(cli("stats", "--json").stdout)["collection"] == "thesis"
    assert json.loads(cli("--collection", "review", "stats", "--json").stdout)["collection"] == (
        "review"
    )
    assert cli("collections", "rename", "thesis", "thesis-2").exit_code == 0
    assert json.loads(cli("stats", "--json").stdout)["collection"] == "thesis-2"
    refused = cli("collections", "delete", "review", stdin="n\n")
    assert refused.exit_code != 0
    assert "review" in [
        c["name"] for c in json.loads(cli("collections", "list", "--json").stdout)["collections"]
    ]
    assert cli("collections", "delete", "review", "--yes").exit_code == 0
    gone = cli("collections", "use", "review")
    assert gone.exit_code == 1 and "no collection 'review'" in gone.output
    assert "Traceback" not in gone.output
