"""Browser tests of the Gradio UI: a real index, a real server, headless Chromium."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("PAPERCHAT_CHROMIUM", "/usr/bin/chromium")
if not Path(CHROMIUM).exists():
    why = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{why}; CI must run the browser tests", pytrace=False)
    pytest.skip(why, allow_module_level=True)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from rag.config import Settings  # noqa: E402
from rag.embed import make_embedder  # noqa: E402
from rag.index import ingest  # noqa: E402
from rag.pipeline import PaperChat  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from ui.app import build_app  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-gpu",
]
SLOW = 60_000  # ms; the first question loads the embedding model
EVIL_ABSTRACT = (
    "Underwater basket weaving robots are a neglected frontier of soft robotics. "
    "<script>window.__pwned=1</script><b>bold</b> We build submersible manipulators "
    "that weave reed baskets underwater, measure weave tightness under currents, and "
    "release an open benchmark of underwater basket weaving tasks for robot learning."
)


@pytest.fixture(scope="session")
def ui_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    tmp = tmp_path_factory.mktemp("ui-index")
    extra = tmp / "evil.jsonl"
    record = {
        "title": "Underwater Basket Weaving Robots <i>Unleashed</i>",
        "authors": ["Mallory Evil", "Eve Hacker"],
        "year": 2025,
        "abstract": EVIL_ABSTRACT,
    }
    extra.write_text(json.dumps(record) + "\n", encoding="utf-8")
    settings = Settings(data_dir=tmp / "data", backend="extractive")
    ingest([ROOT / "corpus" / "seeds", extra], settings, make_embedder(settings.embed_model))
    return settings


@pytest.fixture(scope="session")
def server_url(ui_settings: Settings) -> Iterator[str]:
    app = build_app(ui_settings, PaperChat(ui_settings))
    app.queue(default_concurrency_limit=4)
    port = free_port()
    app.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture()
def page(browser, server_url: str) -> Iterator[Page]:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(SLOW)
    pg.goto(server_url)
    expect(pg.locator("#question textarea")).to_be_visible(timeout=SLOW)
    try:
        yield pg
    finally:
        context.close()


def ask(page: Page, question: str, n_answers: int) -> None:
    """Type a question, send it, and wait for the n-th finished answer."""
    page.locator("#question textarea").fill(question)
    page.locator("#send").click()
    answers = page.locator("#chatbot .answer-meta, #chatbot .answer.error")
    expect(answers).to_have_count(n_answers, timeout=SLOW)


def test_page_loads_with_title(page: Page) -> None:
    expect(page.get_by_text("paperchat").first).to_be_visible()
    expect(page).to_have_title("paperchat")
    expect(page.get_by_text("Example questions")).to_be_visible()


def test_answer_cites_and_highlights_source(page: Page) -> None:
    ask(page, "Which papers shorten chain-of-thought reasoning?", 1)
    link = page.locator("#chatbot a.cite", has_text="[1]").first
    expect(link).to_be_visible()
    card = page.locator("#src-1")
    expect(card).to_have_class("source-card")
    expect(card).to_contain_text("TokenSkip")
    expect(page.locator(".answer-meta").first).to_contain_text("extractive")
    link.click()
    expect(card).to_have_class("source-card highlight")
    # the answer exports as Markdown with its numbered references
    page.get_by_text("Export the answer as Markdown or BibTeX").click()
    export = page.locator("#export-markdown textarea")
    expect(export).to_have_value(re.compile(r"\[1\] .*TokenSkip"))
    bibtex = page.locator("#export-bibtex textarea")
    expect(bibtex).to_have_value(re.compile(r"@article\{\w+,\n  title = \{TokenSkip"))
    # follow-up keeps the conversation going
    ask(page, "What methods do they use?", 2)
    expect(page.locator("#chatbot .answer")).to_have_count(2)
    expect(page.locator(".source-card").first).to_be_visible()
    # New chat clears everything
    page.locator("#new-chat").click()
    expect(page.locator("#chatbot .answer")).to_have_count(0)
    expect(page.locator(".source-card")).to_have_count(0)


def test_citation_shows_its_quote_and_highlights_the_sentence(page: Page) -> None:
    ask(page, "What does TokenSkip do to chain-of-thought?", 1)
    link = page.locator("#chatbot a.cite:has(.cite-quote)").first
    expect(link).to_be_visible()
    bubble = link.locator(".cite-quote")
    expect(bubble).to_be_hidden()
    link.hover()
    expect(bubble).to_be_visible()  # the supporting sentence, shown on hover
    quote = bubble.inner_text().strip("“” ")
    assert len(quote.split()) > 5
    link.click()
    n = (link.get_attribute("href") or "").removeprefix("#src-")
    marked = page.locator(f"#src-{n} .sent.quote-hl")
    expect(marked).to_have_count(1)
    expect(marked).to_have_text(quote)  # the exact sentence of the abstract, highlighted


def test_author_filter(page: Page) -> None:
    page.get_by_text("Search options").click()
    page.locator("#author-filter textarea, #author-filter input").first.fill("Chak Tou Leong")
    ask(page, "Which papers train LLM agents or dialogue models?", 1)
    cards = page.locator(".source-card")
    expect(cards.first).to_be_visible()
    count = cards.count()
    assert count >= 1
    for i in range(count):
        expect(cards.nth(i).locator(".card-authors")).to_contain_text("Leong")


def test_out_of_corpus_question_abstains(page: Page) -> None:
    ask(page, "What is the boiling point of ethanol?", 1)
    expect(page.locator("#chatbot .answer.abstained")).to_be_visible()
    expect(page.locator(".answer-meta").first).to_contain_text("abstained")
    expect(page.locator(".source-card")).to_have_count(0)
    expect(page.locator(".other-hit").first).to_be_visible()


def test_error_is_shown_and_app_keeps_working(page: Page) -> None:
    ask(page, "x" * 2100, 1)
    expect(page.locator("#chatbot .answer.error")).to_contain_text("too long")
    ask(page, "Which papers shorten chain-of-thought reasoning?", 2)
    expect(page.locator("#src-1")).to_be_visible()


def test_untrusted_abstract_renders_as_text(page: Page) -> None:
    ask(page, "Which papers build underwater basket weaving robots?", 1)
    card = page.locator(".source-card", has_text="Underwater Basket Weaving").first
    expect(card).to_be_visible()
    expect(card).to_contain_text("<i>Unleashed</i>")
    card.locator("summary").click()
    evil = card.get_by_text("<script>window.__pwned=1</script>", exact=False)
    expect(evil.first).to_be_visible()
    expect(evil.last).to_be_visible()
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("#sources-panel script").count() == 0
    assert page.locator("#sources-panel b", has_text="bold").count() == 0


def test_papers_tab_filters(page: Page) -> None:
    page.get_by_role("tab", name="Papers").click()
    page.locator("#paper-filter textarea, #paper-filter input").first.fill("TokenSkip")
    table = page.locator("#papers-table")
    expect(table).to_contain_text("TokenSkip", timeout=SLOW)
    expect(table).not_to_contain_text("STeCa")


def test_screenshot(page: Page, tmp_path: Path) -> None:
    """Screenshot the app answering; `make screenshot` writes it to docs/screenshot.png."""
    ask(page, "Which papers shorten chain-of-thought reasoning, and how?", 1)
    page.locator("#chatbot a.cite").first.click()
    expect(page.locator("#src-1")).to_have_class("source-card highlight")
    page.wait_for_timeout(800)  # let the highlight transition and scroll finish
    out = Path(os.environ.get("SCREENSHOT_PATH", tmp_path / "screenshot.png"))
    page.screenshot(path=str(out), full_page=True)
    assert out.stat().st_size > 10_000


@pytest.fixture()
def broken_urls(ui_settings: Settings, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """One app with no index, one whose LLM endpoint is dead."""
    no_index = Settings(data_dir=tmp_path / "missing")
    dead_llm = ui_settings.model_copy(
        update={
            "backend": "openai",
            "openai_base_url": "http://127.0.0.1:9/v1",
            "request_timeout": 2.0,
        }
    )
    apps, urls = [], []
    for settings in (no_index, dead_llm):
        app = build_app(settings)
        app.queue()
        port = free_port()
        app.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
        apps.append(app)
        urls.append(f"http://127.0.0.1:{port}/")
    try:
        yield urls[0], urls[1]
    finally:
        for app in apps:
            app.close()


def test_missing_index_and_dead_llm_show_clear_messages(browser, broken_urls) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context()
    try:
        pg = context.new_page()
        pg.set_default_timeout(SLOW)
        pg.goto(broken_urls[0])
        ask(pg, "Which papers shorten chain-of-thought reasoning?", 1)
        expect(pg.locator("#chatbot .answer.error")).to_contain_text("no index")
        expect(pg.locator("#chatbot")).not_to_contain_text("Traceback")
        pg.goto(broken_urls[1])
        ask(pg, "Which papers shorten chain-of-thought reasoning?", 1)
        expect(pg.locator("#chatbot .answer-notice")).to_contain_text("LLM endpoint unavailable")
        expect(pg.locator("#src-1")).to_be_visible()
    finally:
        context.close()
