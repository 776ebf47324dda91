"""Fast tests of the UI's pure rendering helpers (no server, no browser, no index)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from rag.config import Settings
from rag.records import Answer, Citation, Hit, Paper, Passage
from ui.app import make_filters, paper_rows
from ui.render import (
    EMPTY_SOURCES,
    footer,
    linkify,
    render_answer,
    render_comparison,
    render_error,
    render_sources,
    source_card,
)

EVIL = "<script>window.__pwned=1</script><b>bold</b>"


def _paper(pid: str, title: str, abstract: str = "An abstract.", **kw: object) -> Paper:
    return Paper(pid, title, abstract, sources=("corpus/a.txt:3",), **kw)  # type: ignore[arg-type]


def _hit(paper: Paper) -> Hit:
    return Hit(paper, 0.9, (Passage(f"{paper.id}:0", paper.abstract, 0.9),))


def _answer(**kw: object) -> Answer:
    p1 = _paper("p1", "TokenSkip", f"Abstract with {EVIL}.", authors=("Chak Tou Leong",), year=2025)
    p2 = _paper("p2", "Other paper")
    cite = Citation(1, "p1", "TokenSkip", ("Chak Tou Leong",), 2025, "a.txt", f"Passage {EVIL}")
    base: dict[str, object] = {
        "question": "q",
        "text": "It skips tokens [1].",
        "citations": (cite,),
        "abstained": False,
        "backend": "extractive",
        "model": None,
        "hits": (_hit(p1), _hit(p2)),
        "timings": {"total_ms": 23.4},
    }
    base.update(kw)
    return Answer(**base)  # type: ignore[arg-type]


def test_linkify_turns_markers_into_links() -> None:
    out = linkify("A [1] and B [2].")
    assert '<a href="#src-1" class="cite" data-cite="1">[1]</a>' in out
    assert 'href="#src-2"' in out


def test_linkify_only_valid_markers_and_escapes_text() -> None:
    out = linkify(f"{EVIL} [1] [7]", valid=[1])
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert 'href="#src-1"' in out
    assert "#src-7" not in out and "[7]" in out


def test_linkify_keeps_bold_and_bullets_from_answers() -> None:
    out = linkify("2 papers:\n- **Title**: text [1].")
    assert "<b>Title</b>" in out
    assert "• " in out and "<br>" in out


def test_source_card_escapes_untrusted_text() -> None:
    c = Citation(3, "p", f"T {EVIL}", (f"A {EVIL}",), 2024, f"f{EVIL}.txt", f"P {EVIL}")
    card = source_card(c, abstract=f"Abs {EVIL}")
    assert 'id="src-3"' in card and 'class="source-card"' in card
    assert "<script>" not in card and "<b>bold" not in card
    assert card.count("&lt;script&gt;") == 5
    assert "<details" in card


def test_render_sources_lists_cited_and_other_papers() -> None:
    html_out = render_sources(_answer())
    assert 'id="src-1"' in html_out
    assert "Also retrieved (1)" in html_out and "Other paper" in html_out
    assert "<script>" not in html_out
    assert render_sources(None) == EMPTY_SOURCES


def test_render_answer_has_links_and_footer() -> None:
    out = render_answer(_answer())
    assert 'class="cite"' in out
    assert "extractive · 23 ms" in out
    assert "abstained" not in out


def test_abstention_is_marked_and_lists_closest_papers() -> None:
    a = _answer(text="The collection does not cover this question.", citations=(), abstained=True)
    out = render_answer(a)
    assert 'class="answer abstained"' in out and "⚠️" in out
    assert footer(a).endswith("abstained")
    panel = render_sources(a)
    assert "Closest papers (2)" in panel and "source-card" not in panel


def test_footer_names_the_model() -> None:
    a = _answer(backend="openai", model="gpt-4o-mini")
    assert footer(a) == "openai · gpt-4o-mini · 23 ms"


def test_render_error_escapes() -> None:
    out = render_error(f"bad {EVIL}")
    assert "Error" in out and "<script>" not in out


def test_make_filters() -> None:
    assert make_filters("", "All sources") is None
    f = make_filters(" Leong ", "a.txt")
    assert f is not None and f.author == "Leong" and f.source == "a.txt"
    years = make_filters("", "All sources", 2023, None)
    assert years is not None and (years.year_min, years.year_max) == (2023, None)


def test_paper_rows_filter() -> None:
    papers = [_paper("p1", "TokenSkip", authors=("Leong",), year=2025), _paper("p2", "Other")]
    assert len(paper_rows(papers)) == 2
    rows = paper_rows(papers, "leong")
    assert rows == [["TokenSkip", "Leong", "2025", "corpus/a.txt", "—"]]


def test_paper_rows_show_identifiers_as_links_and_missing_fields_as_dashes() -> None:
    papers = [
        _paper("p1", "Has DOI", doi="10.1/x(y)", arxiv_id="2401.1"),
        _paper("p2", "Has arXiv", arxiv_id="2401.00001"),
        _paper("p3", "Has URL", url="https://example.org/p?a=1"),
        _paper("p4", "Has source id", source_ids=("W123_x",)),
        Paper("p5", "  ", "An abstract."),  # no title, authors, year, source or identifier
    ]
    rows = {r[0]: r for r in paper_rows(papers, sort_by="Title", order="Ascending")}
    assert rows["Has DOI"][4] == "[doi:10.1/x(y)](https://doi.org/10.1/x%28y%29)"
    assert rows["Has arXiv"][4] == "[arXiv:2401.00001](https://arxiv.org/abs/2401.00001)"
    assert rows["Has URL"][4] == "[link](https://example.org/p?a=1)"
    assert rows["Has source id"][4] == r"W123\_x"
    assert rows["—"] == ["—", "—", "—", "—", "—"]


def test_paper_rows_sort_by_any_column_with_blanks_last() -> None:
    papers = [
        _paper("a", "beta", year=2021, arxiv_id="2101.1"),
        _paper("b", "Alpha", year=2024),
        _paper("c", "gamma"),
        _paper("d", "Delta", year=2019, doi="10.5/z"),
    ]
    titles = lambda rows: [r[0] for r in rows]  # noqa: E731
    assert titles(paper_rows(papers)) == ["Alpha", "beta", "Delta", "gamma"]  # newest first
    assert titles(paper_rows(papers, "", "Year", "Ascending")) == [
        "Delta",
        "beta",
        "Alpha",
        "gamma",
    ]
    assert titles(paper_rows(papers, "", "Title", "Ascending")) == [
        "Alpha",
        "beta",
        "Delta",
        "gamma",
    ]
    assert titles(paper_rows(papers, "", "Title", "Descending")) == [
        "gamma",
        "Delta",
        "beta",
        "Alpha",
    ]
    by_id = titles(paper_rows(papers, "", "Identifier", "Ascending"))
    assert by_id[:2] == ["beta", "Delta"] and set(by_id[2:]) == {"Alpha", "gamma"}
    assert titles(paper_rows(papers, "2019", "Year")) == ["Delta"]


def test_auth_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(_env_file=None).auth_pair() is None  # type: ignore[call-arg]
    monkeypatch.setenv("PAPERCHAT_AUTH", "me:s3:cret")
    assert Settings(_env_file=None).auth_pair() == ("me", "s3:cret")  # type: ignore[call-arg]
    assert "s3:cret" not in repr(Settings(_env_file=None))  # type: ignore[call-arg]
    monkeypatch.setenv("PAPERCHAT_AUTH", "nopassword")
    with pytest.raises(ValidationError, match="user:password"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_papers_tab_reads_the_catalog_like_paperchat_papers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rag import Libraries
    from rag.index import catalog
    from ui.handlers import Handlers

    papers = [_paper("p1", "TokenSkip")]
    seen: list[Settings] = []

    def contents(settings: Settings) -> catalog.Contents:
        seen.append(settings)
        return catalog.Contents(papers=papers, stored_chunks=1, embedder="e", chunking="c")

    monkeypatch.setattr(catalog, "contents", contents)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    handlers = Handlers(Libraries(settings))
    assert handlers.papers(settings.collection) == papers and seen == [settings]

    def missing(settings: Settings) -> catalog.Contents:
        from rag.index.store import StoreError

        raise StoreError("no index")

    monkeypatch.setattr(catalog, "contents", missing)
    assert Handlers(Libraries(settings)).papers(settings.collection) == []  # not a crash


def test_claims_render_with_quotes_and_unsupported_ones_apart() -> None:
    from rag.records import Claim

    good = Claim(
        text="It skips tokens.",
        citations=(1,),
        quote=f"We skip {EVIL} tokens.",
        source=1,
        score=0.8,
        supported=True,
        status="cited",
        display="It skips tokens [1].",
    )
    bad = Claim(
        text="It was trained on ImageNet.",
        citations=(),
        quote=None,
        source=None,
        score=0.31,
        supported=False,
        status="unsupported",
        display="It was trained on ImageNet (unsupported).",
    )
    html_out = render_answer(_answer(text=f"{good.display} {bad.display}", claims=(good, bad)))
    assert 'class="claim cited"' in html_out and 'class="claim unsupported"' in html_out
    assert '<span class="cite-quote">We skip &lt;script&gt;' in html_out
    assert "<script>" not in html_out
    assert "best support score 0.31" in html_out and "1 unsupported claim(s) marked" in html_out


def test_comparison_table_escapes_links_and_cites_every_cell() -> None:
    from rag.answer.compare import Row

    rows = [
        Row(1, f"Evil {EVIL}", None, "https://doi.org/10.1/x", "A problem.", None, "It works."),
        Row(2, "Plain", 2024, None, None, "We propose X.", None),
    ]
    out = render_comparison(rows)
    assert "<script>" not in out and "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in out
    assert '<a href="https://doi.org/10.1/x" target="_blank"' in out
    assert out.count('class="compare-row"') == 2
    assert out.count('<td class="cell-empty">—</td>') == 3
    assert 'A problem. <a href="#src-1" class="cite" data-cite="1">[1]' in out
    assert 'We propose X. <a href="#src-2" class="cite" data-cite="2">[2]' in out
    assert '<td class="compare-year">—</td>' in out
    assert "cites no papers" in render_comparison([])


@pytest.mark.slow
def test_session_waits_for_an_ingest_and_reloads_after_a_rebuild(
    small_corpus: Path,
    tmp_path: Path,
    embedder,  # type: ignore[no-untyped-def]
) -> None:
    from rag import Library
    from rag.index.lock import ingest_lock
    from rag.index.writer import ingest
    from rag.pipeline import PaperChat
    from tests.conftest import make_settings
    from ui import app

    settings = make_settings(tmp_path / "idx", backend="extractive")
    ingest([small_corpus], settings, embedder)
    lazy = Library(settings, chat=PaperChat(settings, embedder=embedder))
    question = "Which data structure cuts memory use for nearest neighbour search?"
    first = lazy.open()
    assert "Sparse gardens" in first.ask(question).text
    with ingest_lock(settings), pytest.raises(app.IndexBusy, match="being updated.*pid"):
        lazy.open()
    ingest([small_corpus], settings, embedder, rebuild=True)  # drops the collection it read
    with pytest.raises(Exception, match="does not exist"):
        first.ask(question)  # what the UI showed before: a session that never recovers
    second = lazy.open()
    assert second is not first and second.embedder is first.embedder
    assert "Sparse gardens" in second.ask(question).text
    assert lazy.open() is second  # an unchanged index keeps its session


def test_ingest_probe_sees_an_ingest_but_never_other_probes(tmp_path: Path) -> None:
    """Twenty sessions asking at once probe the lock together: none may take the others for
    an ingest (an exclusive probe did, under tests/test_load.py); an ingest's lock shows."""
    import threading

    from rag.index.lock import ingest_holder, ingest_lock
    from tests.conftest import make_settings

    settings = make_settings(tmp_path / "data")
    assert ingest_holder(settings) is None  # no lock file yet
    with ingest_lock(settings):
        assert ingest_holder(settings) == f"pid {os.getpid()}"
    seen: list[str | None] = []

    def probe() -> None:
        seen.extend(ingest_holder(settings) for _ in range(200))

    threads = [threading.Thread(target=probe) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [None] * 4000


def _two_collections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A store with collections alpha (one paper, read from a stand-in catalog) and an empty
    beta; alpha is the configured one."""
    from rag import collections
    from rag.index import catalog
    from tests.conftest import make_settings

    settings = make_settings(tmp_path / "store", collection="alpha")
    for name in ("alpha", "beta"):
        collections.create(settings, name)
    held = {"alpha": [_paper("p1", "TokenSkip", year=2025)], "beta": []}

    def contents(s: Settings) -> catalog.Contents:
        return catalog.Contents(held[s.collection], len(held[s.collection]), "e", "c")

    monkeypatch.setattr(catalog, "contents", contents)
    return settings


def test_switching_collection_shows_its_papers_and_starts_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag import Libraries
    from ui.handlers import ALL_SOURCES, Handlers
    from ui.papers import DESCENDING

    handlers = Handlers(Libraries(_two_collections(tmp_path, monkeypatch)))
    assert handlers.collections() == ["alpha", "beta"]
    assert handlers.selector()["choices"] == ["alpha", "beta"]
    assert handlers.selector()["interactive"] is True
    picked, header, sources, rows, *chat = handlers.switch("alpha", "", "Year", DESCENDING)
    assert picked == "alpha" and "about 1 research-paper abstract;" in header
    assert sources["choices"] == [ALL_SOURCES, "corpus/a.txt"] and sources["value"] == ALL_SOURCES
    assert [r[0] for r in rows] == ["TokenSkip"] and tuple(chat) == Handlers.new_chat()
    picked, header, sources, rows, *chat = handlers.switch("beta", "", "Year", DESCENDING)
    assert picked == "beta" and rows == [] and sources["choices"] == [ALL_SOURCES]
    assert "`beta` holds no papers yet" in header
    assert "`paperchat --collection beta ingest PATH`" in header
    assert [r[0] for r in handlers.list_papers("alpha", "token", "Year")] == ["TokenSkip"]
    assert handlers.list_papers("alpha", "glacier", "Year") == []  # the filter applies
    assert handlers.papers("gamma") == []  # no such collection: an empty table, not a crash


def _reply(handlers: object, collection: str) -> str:
    """The chat's last message after asking a question in a collection."""
    *_, last = handlers.respond(  # type: ignore[attr-defined]
        "Which papers skip tokens?", [], [], collection, "", "All sources", None, None, 5, "auto"
    )
    return str(last[0][-1]["content"])


def test_a_question_in_an_empty_collection_says_how_to_fill_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    embedder,  # type: ignore[no-untyped-def]
) -> None:
    from rag import Libraries, Library
    from ui.handlers import Handlers

    settings = _two_collections(tmp_path, monkeypatch)
    handlers = Handlers(Libraries(settings, Library(settings, embedder=embedder)))
    empty = _reply(handlers, "beta")
    assert 'class="answer empty-collection"' in empty and "error" not in empty
    assert "<code>paperchat --collection beta ingest PATH</code>" in empty
    unknown = _reply(handlers, "gamma")
    assert 'class="answer error"' in unknown and "no collection &#x27;gamma&#x27;" in unknown


def test_redraws_of_a_draft_are_paced() -> None:
    from ui.shell import DRAFT_EVERY, Redraws

    redraws = Redraws()
    assert redraws.due()  # the first words are drawn at once
    assert not redraws.due()  # the next ones wait
    redraws.last -= DRAFT_EVERY
    assert redraws.due()
