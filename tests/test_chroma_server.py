"""The Chroma server path, against a real `chroma run` on loopback."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.index import catalog
from rag.index.store import StoreError, generation, open_collection
from rag.index.writer import ingest
from rag.pipeline import PaperChat
from tests.conftest import SMALL_CORPUS, free_port, make_settings

runner = CliRunner()


@contextmanager
def _chroma_run(folder: Path, env: dict[str, str] | None = None) -> Iterator[int]:
    """Start `chroma run` on a free loopback port (with extra environment); stop it after."""
    exe = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    port = free_port()
    command = [exe, "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        command,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
                break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("chroma server did not start")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture()
def chroma_server(tmp_path: Path) -> Iterator[int]:
    """A `chroma run` on a free loopback port for one test."""
    with _chroma_run(tmp_path / "server") as port:
        yield port


def test_ingest_and_search_through_a_chroma_server(
    tmp_path: Path,
    small_corpus: Path,
    embedder,
    chroma_server: int,  # type: ignore[no-untyped-def]
) -> None:
    settings = make_settings(
        tmp_path / "unused", chroma_host="127.0.0.1", chroma_port=chroma_server
    )
    assert ingest([small_corpus], settings, embedder).added == 3
    assert ingest([small_corpus], settings, embedder).chunks_embedded == 0
    assert not (tmp_path / "unused" / "chroma").exists()  # nothing written locally
    session = PaperChat(settings, embedder=embedder)
    hits = session.search("approximate nearest neighbour memory", k=2).hits
    assert hits[0].paper.title == "Sparse Gardens"
    assert "chroma server http://127.0.0.1" in settings.store_location()
    assert catalog.read_stamp(catalog.path_for(settings)) == generation(open_collection(settings))


def test_catalog_is_checked_against_a_server_another_machine_wrote(
    tmp_path: Path,
    small_corpus: Path,
    embedder,
    chroma_server: int,  # type: ignore[no-untyped-def]
) -> None:
    here = make_settings(tmp_path / "here", chroma_host="127.0.0.1", chroma_port=chroma_server)
    there = make_settings(tmp_path / "there", chroma_host="127.0.0.1", chroma_port=chroma_server)
    ingest([small_corpus], here, embedder)
    assert len(catalog.contents(here).papers) == 3
    assert catalog.path_for(here).exists()

    extra = small_corpus / "more.jsonl"
    extra.write_text(
        json.dumps(
            {
                **SMALL_CORPUS[0],
                "title": "Quantum Widgets II",
                "abstract": "Sequel. " + str(SMALL_CORPUS[0]["abstract"]),
            }
        )
        + "\n",
        "utf-8",
    )
    ingest([small_corpus], there, embedder)  # another machine: `here`'s catalog is now stale
    assert len(catalog.contents(here).papers) == 4
    session = PaperChat(here, embedder=embedder)
    assert "Quantum Widgets II" in {p.title for p in session.retriever.papers}
    stamp = generation(open_collection(here))
    assert catalog.read_stamp(catalog.path_for(here)) == stamp  # refreshed by the retriever


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, chroma_host="127.0.0.1", chroma_port=free_port())
    with pytest.raises(StoreError, match="cannot reach chroma server"):
        open_collection(settings)


# --- past one machine: tenant, database and a token, as settings ----------------------------


class _Proxy(ThreadingHTTPServer):
    """A proxy in front of `chroma run` that records each request's headers.

    With `header`/`value` set it authenticates like a reverse proxy would: a request
    without that exact header gets a 401 page and never reaches Chroma.
    """

    daemon_threads = True

    def __init__(self, upstream: int, header: str | None = None, value: str | None = None):
        super().__init__(("127.0.0.1", 0), _Forward)
        self.upstream, self.header, self.value = upstream, header, value
        self.seen: list[dict[str, str]] = []


class _Forward(BaseHTTPRequestHandler):
    server: _Proxy

    def _forward(self) -> None:
        proxy = self.server
        proxy.seen.append(dict(self.headers.items()))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if proxy.header and self.headers.get(proxy.header) != proxy.value:
            self._reply(
                401, [("Content-Type", "text/html")], b"<h1>401 Authorization Required</h1>"
            )
            return
        upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream, timeout=60)
        skip = {"host", "connection", "content-length", "transfer-encoding"}
        headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
        upstream.request(self.command, self.path, body=body, headers=headers)
        answer = upstream.getresponse()
        data = answer.read()
        kept = [(k, v) for k, v in answer.getheaders() if k.lower() not in skip]
        self._reply(answer.status, kept, data)
        upstream.close()

    def _reply(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

    def log_message(self, *args: object) -> None:
        """Quiet."""


@contextmanager
def _proxy(upstream: int, header: str | None = None, value: str | None = None) -> Iterator[_Proxy]:
    proxy = _Proxy(upstream, header, value)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()


TOKEN = "pc-test-token-7d1f"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("setting", "header", "sent"),
    [
        ("X-Chroma-Token", "X-Chroma-Token", TOKEN),
        ("authorization", "Authorization", f"Bearer {TOKEN}"),  # any case; Bearer added
    ],
)
def test_token_goes_in_the_chosen_header_of_every_request(
    tmp_path: Path,
    small_corpus: Path,
    embedder,  # type: ignore[no-untyped-def]
    chroma_server: int,
    setting: str,
    header: str,
    sent: str,
) -> None:
    with _proxy(chroma_server, header, sent) as proxy:
        settings = make_settings(
            tmp_path / "d",
            chroma_host="127.0.0.1",
            chroma_port=proxy.server_address[1],
            chroma_token=TOKEN,
            chroma_token_header=setting,
        )
        assert ingest([small_corpus], settings, embedder).added == 3
        hits = PaperChat(settings, embedder=embedder).search("nearest neighbour memory", k=1)
        assert hits.hits[0].paper.title == "Sparse Gardens"
        assert len(proxy.seen) > 5
        other = "X-Chroma-Token" if header == "Authorization" else "Authorization"
        assert all(h.get(header) == sent and other not in h for h in proxy.seen)


def _admin(port: int):  # type: ignore[no-untyped-def]
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.AdminClient(
        ChromaSettings(
            chroma_api_impl="chromadb.api.fastapi.FastAPI",
            chroma_server_host="127.0.0.1",
            chroma_server_http_port=port,
            anonymized_telemetry=False,
        )
    )


@pytest.mark.slow
def test_tenant_and_database_hold_their_own_index(
    tmp_path: Path,
    small_corpus: Path,
    embedder,  # type: ignore[no-untyped-def]
    chroma_server: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin = _admin(chroma_server)
    admin.create_tenant("lab")
    admin.create_database("papers", tenant="lab")
    server = {"chroma_host": "127.0.0.1", "chroma_port": chroma_server}
    lab = make_settings(tmp_path / "d", chroma_tenant="lab", chroma_database="papers", **server)
    assert ingest([small_corpus], lab, embedder).added == 3
    assert "(tenant lab, database papers)" in lab.store_location()
    hits = PaperChat(lab, embedder=embedder).search("entanglement in noisy channels", k=1).hits
    assert hits[0].paper.title == "Quantum Widgets"
    default = make_settings(tmp_path / "d", **server)
    with pytest.raises(StoreError, match="run `paperchat ingest` first|no collection"):
        catalog.contents(default)  # the default database holds no index
    assert catalog.path_for(default) != catalog.path_for(lab)

    from ui.cli import app

    monkeypatch.setenv("PAPERCHAT_CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("PAPERCHAT_CHROMA_PORT", str(chroma_server))
    monkeypatch.setenv("PAPERCHAT_CHROMA_TENANT", "lab")
    monkeypatch.setenv("PAPERCHAT_CHROMA_DATABASE", "papers")
    found = runner.invoke(app, ["search", "entanglement in noisy channels", "--json"])
    assert (
        found.exit_code == 0 and json.loads(found.stdout)["hits"][0]["title"] == "Quantum Widgets"
    )
    for name, value in (("TENANT", "nobody"), ("DATABASE", "nothing")):
        monkeypatch.setenv(f"PAPERCHAT_CHROMA_{name}", value)
        for command in (["search", "widgets"], ["ingest", str(small_corpus)]):
            result = runner.invoke(app, command)
            lines = result.stderr.strip().splitlines()
            assert result.exit_code == 1 and isinstance(result.exception, SystemExit), lines
            assert len(lines) == 1 and lines[0].startswith("error: "), lines
            assert f"PAPERCHAT_CHROMA_{name}" in lines[0] and value in lines[0], lines
        monkeypatch.setenv(f"PAPERCHAT_CHROMA_{name}", "lab" if name == "TENANT" else "papers")


@pytest.mark.slow
def test_rejected_or_missing_token_is_one_line_without_the_token(
    tmp_path: Path, small_corpus: Path, chroma_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ui.cli import app

    with _proxy(chroma_server, "X-Chroma-Token", TOKEN) as proxy:
        monkeypatch.setenv("PAPERCHAT_CHROMA_HOST", "127.0.0.1")
        monkeypatch.setenv("PAPERCHAT_CHROMA_PORT", str(proxy.server_address[1]))
        for token, expect in ((None, "sent without a token"), ("wrong-7d1f", "refused the token")):
            if token:
                monkeypatch.setenv("PAPERCHAT_CHROMA_TOKEN", token)
            for command in (["ingest", str(small_corpus)], ["search", "widgets"], ["stats"]):
                result = runner.invoke(app, command)
                lines = result.stderr.strip().splitlines()
                assert result.exit_code == 1 and isinstance(result.exception, SystemExit), lines
                assert len(lines) == 1 and expect in lines[0] and "401" in lines[0], lines
                assert "PAPERCHAT_CHROMA_TOKEN" in lines[0]
                assert "wrong-7d1f" not in result.output + result.stderr
        assert not any(h.get("X-Chroma-Token") == TOKEN for h in proxy.seen)


@pytest.mark.slow
def test_chroma_run_itself_checks_no_token(tmp_path: Path) -> None:
    """What the installed server enforces (chroma-core/chroma#4965): token settings are ignored.

    If a chromadb upgrade makes this fail, `chroma run` checks tokens itself: revisit
    docs/performance.md, "Scaling out", which says a shared `chroma run` needs an
    authenticating proxy.
    """
    token_auth = {
        "CHROMA_SERVER_AUTHN_PROVIDER": "chromadb.auth.token_authn."
        "TokenAuthenticationServerProvider",
        "CHROMA_SERVER_AUTHN_CREDENTIALS": TOKEN,
        "CHROMA_AUTH_TOKEN_TRANSPORT_HEADER": "X-Chroma-Token",
    }
    with _chroma_run(tmp_path / "server", token_auth) as port:
        url = f"http://127.0.0.1:{port}/api/v2/tenants/default_tenant/databases/default_database"
        create = urllib.request.Request(
            f"{url}/collections",
            data=json.dumps({"name": "no-token"}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(create, timeout=10) as answer:  # no token at all
            assert answer.status == 200
        listing = urllib.request.Request(f"{url}/collections", headers={"X-Chroma-Token": "wrong"})
        with urllib.request.urlopen(listing, timeout=10) as answer:
            assert [c["name"] for c in json.load(answer)] == ["no-token"]
