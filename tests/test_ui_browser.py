"""Browser tests of the Gradio UI: a real index, a real server, headless Chromium."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
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

from playwright.sync_api import Locator, Page, expect, sync_playwright  # noqa: E402

from rag.config import Settings  # noqa: E402
from rag.embed import make_embedder  # noqa: E402
from rag.index.writer import ingest  # noqa: E402
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
EXPORT = "Export the answer and the comparison table"
COMPARE_Q = "Compare the papers that shorten chain-of-thought reasoning"
EVIL_ABSTRACT = (
    "Underwater basket weaving robots are a neglected frontier of soft robotics. "
    "<script>window.__pwned=1</script><b>bold</b> We build submersible manipulators "
    "that weave reed baskets underwater, measure weave tightness under currents, and "
    "release an open benchmark of underwater basket weaving tasks for robot learning."
)


EVIL_TITLE = "Underwater Basket Weaving Robots <i>Unleashed</i> <script>window.__pwned=2</script>"
EXTRA_PAPERS = [
    {
        "title": EVIL_TITLE,
        "authors": ["Mallory Evil", "Eve Hacker"],
        "year": 2025,
        "abstract": EVIL_ABSTRACT,
    },
    {  # no title, no year, no authors: the title is derived from the abstract
        "abstract": "Mapping glaciers from the air is slow and costly, and satellite images miss "
        "small crevasses. We propose a swarm of low-cost drones that photograph glacier surfaces "
        "and stitch the images into crevasse maps. Field tests on three Alpine glaciers show "
        "that the swarm finds 40% more crevasses than satellite maps."
    },
    {
        "title": "Tidal Parsing: Error Recovery Without Backtracking",
        "authors": ["Barbara Liskov"],
        "year": 2026,
        "doi": "10.5555/tidal.2026",
        "abstract": "Parsers for noisy source code fail on the first syntax error or backtrack "
        "at great cost. We introduce tidal parsing, which reads token streams in waves so a "
        "parser recovers from errors without backtracking. Experiments on 12,000 broken files "
        "show that tidal parsing recovers 93% of the structure in linear time.",
    },
]


@pytest.fixture(scope="session")
def ui_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    tmp = tmp_path_factory.mktemp("ui-index")
    extra = tmp / "extra.jsonl"
    extra.write_text("".join(json.dumps(r) + "\n" for r in EXTRA_PAPERS), encoding="utf-8")
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
    page.get_by_text(EXPORT).click()
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


SCROLL_TOP = """
(chat) => chat.querySelectorAll('*').forEach((el) => {
  const y = getComputedStyle(el).overflowY;
  if ((y === 'auto' || y === 'scroll') && el.scrollHeight > el.clientHeight) el.scrollTop = 0;
})
"""


def test_screenshot(page: Page, tmp_path: Path) -> None:
    """Screenshot a multi-paper answer with its comparison table and a citation followed;
    `make screenshot` writes it to docs/screenshot.png."""
    ask(page, COMPARE_Q, 1)
    expect(page.locator("#compare-panel .compare-row")).to_have_count(4)
    page.locator("#chatbot a.cite").first.click()
    expect(page.locator("#src-1")).to_have_class("source-card highlight")
    page.wait_for_timeout(800)  # let the highlight transition and scroll finish
    page.locator("#chatbot").evaluate(SCROLL_TOP)  # the question above its answer
    page.evaluate("window.scrollTo(0, 0)")
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
        expect(pg.locator("#header")).to_contain_text("holds no papers yet")
        expect(pg.locator("#collection input")).to_be_disabled()  # the one collection there is
        expect(pg.locator("#chatbot")).not_to_contain_text("Traceback")
        pg.goto(broken_urls[1])
        ask(pg, "Which papers shorten chain-of-thought reasoning?", 1)
        expect(pg.locator("#chatbot .answer-notice")).to_contain_text("LLM endpoint unavailable")
        expect(pg.locator("#src-1")).to_be_visible()
    finally:
        context.close()


def _cells(row: Locator) -> list[str]:
    return [c.strip() for c in row.locator("td").all_inner_texts()]


def test_compare_button_tabulates_the_cited_papers_with_their_own_sentences(page: Page) -> None:
    ask(page, "What has Chak Tou Leong worked on?", 1)
    expect(page.locator("#compare-panel .compare-row")).to_have_count(0)  # not asked to compare
    cited = sorted({int(x.strip("[]")) for x in page.locator("#chatbot a.cite").all_inner_texts()})
    assert len(cited) >= 2
    page.locator("#compare").click()
    rows = page.locator("#compare-panel .compare-row")
    expect(rows).to_have_count(len(cited))
    expect(page.locator("#compare-panel th")).to_have_text(
        ["#", "Paper", "Year", "Problem addressed", "What it proposes", "What it reports"]
    )
    filled = 0
    for i, n in enumerate(cited):
        row = rows.nth(i)
        number, title, _year, *aspects = _cells(row)
        assert number == f"[{n}]"
        assert title == page.locator(f"#src-{n} .card-title").inner_text().strip()
        abstract = page.locator(f"#src-{n} .card-abstract p").text_content() or ""
        for cell in aspects:
            if cell == "—":
                continue
            filled += 1
            sentence = cell.removesuffix(f"[{n}]").strip()
            assert cell.endswith(f"[{n}]") and sentence in abstract  # a sentence of that paper
    assert filled >= len(cited)  # most cells hold a sentence
    # a cell's citation leads to its source card, its sentence highlighted there
    link = rows.first.locator("a.cite").first
    link.click()
    expect(page.locator(f"#src-{cited[0]}")).to_have_class("source-card highlight")
    expect(page.locator(f"#src-{cited[0]} .sent.quote-hl")).to_have_count(1)


def test_compare_question_shows_the_table_and_exports_it(page: Page) -> None:
    ask(page, COMPARE_Q, 1)
    rows = page.locator("#compare-panel .compare-row")
    expect(rows.first).to_be_visible()
    n_rows = rows.count()
    assert n_rows >= 2
    titles = [_cells(rows.nth(i))[1] for i in range(n_rows)]
    assert titles[0].startswith("TokenSkip")
    page.get_by_text(EXPORT).click()
    md = page.locator("#export-table-markdown textarea")
    expect(md).to_have_value(re.compile(r"^\| # \| Paper \| Year \| Problem addressed"))
    lines = md.input_value().strip().split("\n")
    assert len(lines) == 2 + n_rows
    assert lines[2].startswith("| [1] | TokenSkip") and lines[2].endswith("[1] |")
    table = list(csv.reader(io.StringIO(page.locator("#export-table-csv textarea").input_value())))
    assert table[0] == ["n", "title", "year", "link", "problem", "proposal", "result"]
    assert [r[1] for r in table[1:]] == titles
    assert [r[0] for r in table[1:]] == [str(i) for i in range(1, n_rows + 1)]
    # a follow-up that is no comparison clears the table: its numbers would not match
    ask(page, "What does TokenSkip do?", 2)
    expect(rows).to_have_count(0)
    expect(page.locator("#export-table-csv textarea")).to_have_value("")


def test_script_in_a_title_is_text_in_the_table_and_bibtex(page: Page) -> None:
    ask(page, "Which papers build underwater basket weaving robots?", 1)
    page.locator("#compare").click()
    row = page.locator("#compare-panel .compare-row", has_text="Underwater Basket Weaving")
    expect(row).to_have_count(1)
    expect(row.locator(".compare-title")).to_have_text(EVIL_TITLE)
    assert page.locator("#compare-panel script, #compare-panel i").count() == 0
    assert page.evaluate("typeof window.__pwned") == "undefined"
    page.get_by_text(EXPORT).click()
    bib = page.locator("#export-bibtex textarea").input_value()
    assert "title = {" + EVIL_TITLE.replace("_", r"\_") + "}" in bib  # BibTeX escapes only _
    csv_rows = list(
        csv.reader(io.StringIO(page.locator("#export-table-csv textarea").input_value()))
    )
    assert EVIL_TITLE in [r[1] for r in csv_rows]


def test_paper_without_title_or_year(page: Page) -> None:
    ask(page, "Which papers map glaciers with drones?", 1)
    card = page.locator(".source-card", has_text="Mapping glaciers from the air")
    expect(card.first).to_be_visible()
    expect(card.first.locator(".card-authors")).to_have_text("Authors not listed")
    page.locator("#compare").click()
    row = page.locator("#compare-panel .compare-row", has_text="Mapping glaciers")
    expect(row.locator(".compare-year")).to_have_text("—")
    expect(row.locator("td").nth(4)).to_contain_text("We propose a swarm of low-cost drones")
    page.get_by_role("tab", name="Papers").click()
    page.locator("#paper-filter textarea, #paper-filter input").first.fill("glaciers")
    table = page.locator("#papers-table")
    expect(table).to_contain_text("Mapping glaciers from the air", timeout=SLOW)
    expect(_paper_cells(page, 0).first).to_contain_text("Mapping glaciers from the air")
    title, authors, year, source, identifier = map(
        str.strip, _paper_cells(page, 0).all_inner_texts()
    )
    assert title.endswith("…") and len(title) <= 91  # derived from the abstract's first sentence
    assert (authors, year, identifier) == ("—", "—", "—")
    assert source.endswith("extra.jsonl")


def _paper_cells(page: Page, row: int) -> Locator:
    """The cells of a row of the Papers table (a virtual grid: rows are divs, in table order)."""
    return page.locator(f'#papers-table [role="gridcell"][data-row="{row}"]')


def _column(page: Page, col: int, n: int = 6) -> list[str]:
    cells = [page.locator(f'#papers-table [data-testid="cell-{i}-{col}"]') for i in range(n)]
    return [c.inner_text().strip() for c in cells]


def test_papers_tab_columns_links_and_sort(page: Page) -> None:
    page.get_by_role("tab", name="Papers").click()
    headers = page.locator("#papers-table thead th")
    names = ["Title", "Authors", "Year", "Source", "Identifier"]
    expect(headers).to_have_text([re.compile(rf"^\s*{n}\b") for n in names])
    expect(_paper_cells(page, 0).nth(2)).to_have_text("2026")  # newest first
    link = page.locator("#papers-table [role=gridcell] a", has_text="doi:10.5555/tidal")
    expect(link).to_have_attribute("href", "https://doi.org/10.5555/tidal.2026")
    page.locator("#paper-order").get_by_text("Ascending").click()
    expect(_paper_cells(page, 0).nth(2)).to_have_text("2022")
    years = _column(page, 2)
    assert years == sorted(years)
    page.locator("#paper-sort input").click()
    page.get_by_role("option", name="Title").click()
    expect(_paper_cells(page, 0).nth(0)).not_to_contain_text("Learning to Break the Loop")
    titles = _column(page, 0)
    assert titles == sorted(titles, key=str.casefold)
    page.locator("#paper-order").get_by_text("Descending").click()
    expect(_paper_cells(page, 0).nth(0)).not_to_contain_text(titles[0])
    down = _column(page, 0)
    assert down == sorted(down, key=str.casefold, reverse=True)


def test_year_range_filter_keeps_citations_in_range(page: Page) -> None:
    question = "Which papers align language models with human feedback and rewards?"
    ask(page, question, 1)
    unfiltered = page.locator(".source-card .card-authors").all_inner_texts()
    assert any("· 2023" not in a for a in unfiltered)  # the filter below has work to do
    page.locator("#new-chat").click()
    page.get_by_text("Search options").click()
    page.locator("#year-min input").fill("2023")
    page.locator("#year-max input").fill("2023")
    ask(page, question, 1)
    cards = page.locator(".source-card .card-authors")
    expect(cards.first).to_be_visible()
    years = cards.all_inner_texts()
    assert years and all(a.endswith("· 2023") for a in years), years


def test_backend_dropdown_switches_between_extractive_and_a_dead_llm(browser, broken_urls) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context()
    try:
        pg = context.new_page()
        pg.set_default_timeout(SLOW)
        pg.goto(broken_urls[1])  # configured for an LLM whose endpoint is dead
        pg.get_by_text("Search options").click()
        pg.locator("#backend input").click()
        pg.get_by_role("option", name="extractive").click()
        ask(pg, "Which papers shorten chain-of-thought reasoning?", 1)
        meta = pg.locator("#chatbot .answer-meta")
        expect(meta.last).to_have_text(re.compile(r"^extractive · \d+ ms$"))
        expect(pg.locator("#chatbot .answer-notice")).to_have_count(0)
        pg.locator("#backend input").click()
        pg.get_by_role("option", name="openai").click()
        ask(pg, "Which papers shorten chain-of-thought reasoning?", 2)
        expect(pg.locator("#chatbot .answer-notice")).to_contain_text("LLM endpoint unavailable")
        expect(pg.locator("#src-1")).to_be_visible()
    finally:
        context.close()


def test_question_while_the_index_is_rebuilt(page: Page, ui_settings: Settings) -> None:
    """Another process holds the ingest lock (as `paperchat ingest --rebuild` does): a clear
    message, no traceback; once it is done, answers come back."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(ui_settings.data_dir)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        ask(page, "Which papers shorten chain-of-thought reasoning?", 1)
        error = page.locator("#chatbot .answer.error")
        expect(error).to_contain_text("the index is being updated right now")
        expect(error).to_contain_text(f"pid {holder.pid}")
        expect(page.locator("#chatbot")).not_to_contain_text("Traceback")
    finally:
        holder.kill()
        holder.wait()
    ask(page, "Which papers shorten chain-of-thought reasoning?", 2)
    expect(page.locator("#src-1")).to_contain_text("TokenSkip")


HOLD_LOCK = """
import sys, time
from pathlib import Path
from rag.config import Settings
from rag.index.lock import ingest_lock
with ingest_lock(Settings(_env_file=None, data_dir=Path(sys.argv[1]))):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_long_questions(page: Page) -> None:
    """A question of exactly 2,000 characters is answered; one longer gets a clear message."""
    base = "Which papers shorten chain-of-thought reasoning in large language models? "
    question = (base * 30)[:2000]
    ask(page, question, 1)
    expect(page.locator("#chatbot .answer-meta")).to_contain_text("extractive")
    expect(page.locator("#src-1")).to_contain_text("TokenSkip")
    ask(page, question + "?", 2)
    expect(page.locator("#chatbot .answer.error")).to_contain_text(
        "the question is too long (2001 characters; the limit is 2000)"
    )


# Measures an element's text on one line as the page renders it, and the same text in a probe
# span whose family is the first font of the element's stack that the browser has, with
# `monospace` behind it. A title drawn in one font measures the same both ways; a title whose
# first font lacks some of its glyphs (Gradio's Source Sans Pro SemiBold subset) draws those
# from the next fonts of the stack on the page but from monospace in the probe.
MEASURE = """
async (el) => {
  await document.fonts.ready;
  const cs = getComputedStyle(el);
  const width = (family) => {
    const s = document.createElement('span');
    s.textContent = el.textContent;
    s.style.font = cs.font;
    s.style.letterSpacing = cs.letterSpacing;
    s.style.fontFamily = family;
    s.style.whiteSpace = 'nowrap';
    s.style.position = 'absolute';
    document.body.appendChild(s);
    const w = s.getBoundingClientRect().width;
    s.remove();
    return w;
  };
  const families = cs.fontFamily.split(',').map((f) => f.trim());
  const mono = width('monospace'), serif = width('serif');
  const first = families.find(
    (f) => width(`${f}, monospace`) !== mono || width(`${f}, serif`) !== serif);
  const wrap = el.style.whiteSpace;
  el.style.whiteSpace = 'nowrap';
  const rendered = el.getBoundingClientRect().width;
  el.style.whiteSpace = wrap;
  return {rendered, probe: width(`${first}, monospace`), first, weight: cs.fontWeight};
}
"""


def test_system_fonts_no_font_files_and_bold_titles_in_one_font(browser, server_url) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    requests: list[str] = []
    try:
        pg = context.new_page()
        pg.on("request", lambda r: requests.append(r.url))
        pg.set_default_timeout(SLOW)
        pg.goto(server_url)
        ask(pg, "Which papers shorten chain-of-thought reasoning, and how?", 1)
        titles = pg.locator("#chatbot .answer b, .source-card .card-title")
        expect(titles.nth(3)).to_be_visible()
        measured = [(t.inner_text(), t.evaluate(MEASURE)) for t in titles.all()]
    finally:
        context.close()
    assert requests and all(u.startswith(server_url) for u in requests), requests
    fonts = [u for u in requests if re.search(r"\.(woff2?|ttf|otf|eot)(\?|$)|/fonts?/", u)]
    assert fonts == []
    for title, m in measured:
        assert int(m["weight"]) >= 600 and m["first"] not in (None, "monospace"), m
        assert abs(m["rendered"] - m["probe"]) < 0.5, (title, m)


ICE_PAPERS = [  # the collection "ice": other papers than the configured collection's
    {
        "title": "Radar Mapping of Glacier Crevasses from Satellites",
        "authors": ["Inge Frost"],
        "year": 2024,
        "abstract": "Crevasses make glacier travel dangerous, and optical images miss those "
        "hidden under snow. We map glacier crevasses with synthetic aperture radar from "
        "satellites, which sees through snow bridges. On Greenland outlet glaciers the radar "
        "maps find 85% of the crevasses that ground surveys confirm.",
    },
    {
        "title": "Listening to Coral Reefs",
        "authors": ["Marina Reef"],
        "year": 2023,
        "abstract": "Reef health is hard to monitor at scale. We record coral reef soundscapes "
        "with underwater microphones and train a classifier that tells healthy from degraded "
        "reefs. Across 40 reefs the classifier agrees with diver surveys 90% of the time.",
    },
]
ICE_TITLES = {p["title"] for p in ICE_PAPERS}
DRONES = "Mapping glaciers from the air"  # the configured collection's glacier paper
CREVASSES_Q = "Which papers map glacier crevasses?"


@pytest.fixture(scope="session")
def more_collections(ui_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Two more collections beside the configured one: "ice" (ICE_PAPERS) and "drafts" (empty).
    Pages loaded afterwards list them (the selector's choices are read on each page load)."""
    from rag import collections

    path = tmp_path_factory.mktemp("ice") / "ice.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ICE_PAPERS), encoding="utf-8")
    ice = ui_settings.model_copy(update={"collection": "ice"})
    ingest([path], ice, make_embedder(ice.embed_model))
    collections.create(ui_settings, "drafts")


def pick_collection(page: Page, name: str) -> None:
    """Choose a collection in the selector, as a user does."""
    page.locator("#collection input").click()
    page.get_by_role("option", name=name, exact=True).click()


def cited_titles(page: Page) -> set[str]:
    cards = page.locator(".source-card .card-title")
    expect(cards.first).to_be_visible()
    return {t.strip() for t in cards.all_inner_texts()}


def test_collection_selector_answers_from_the_picked_collection_only(  # type: ignore[no-untyped-def]
    more_collections: None, page: Page, browser, server_url: str
) -> None:
    selector = page.locator("#collection input")
    expect(selector).to_have_value("paperchat")  # the configured collection
    expect(selector).to_be_enabled(timeout=SLOW)  # its choices are read again on page load
    header = page.locator("#header")
    expect(header).to_contain_text("about 160 research-paper abstracts")
    ask(page, CREVASSES_Q, 1)
    assert any(t.startswith(DRONES) for t in cited_titles(page))
    assert not cited_titles(page) & ICE_TITLES

    pick_collection(page, "ice")
    expect(header).to_contain_text("about 2 research-paper abstracts", timeout=SLOW)
    expect(page.locator("#chatbot .answer")).to_have_count(0)  # the conversation starts over
    expect(page.locator(".source-card")).to_have_count(0)
    ask(page, CREVASSES_Q, 1)
    expect(page.locator("#src-1 .card-title")).to_have_text(ICE_PAPERS[0]["title"])
    assert cited_titles(page) <= ICE_TITLES  # nothing from the configured collection
    page.get_by_role("tab", name="Papers").click()
    expect(_paper_cells(page, 0).first).to_have_text(ICE_PAPERS[0]["title"])  # 2024 first
    expect(_paper_cells(page, 1).first).to_have_text(ICE_PAPERS[1]["title"])
    expect(page.locator('#papers-table [role="gridcell"][data-row="2"]')).to_have_count(0)

    # another browser session keeps the configured collection
    other = browser.new_context()
    try:
        pg = other.new_page()
        pg.set_default_timeout(SLOW)
        pg.goto(server_url)
        expect(pg.locator("#question textarea")).to_be_visible(timeout=SLOW)
        expect(pg.locator("#collection input")).to_have_value("paperchat")
        ask(pg, CREVASSES_Q, 1)
        assert not cited_titles(pg) & ICE_TITLES
    finally:
        other.close()

    # back in the first session: still "ice"
    page.get_by_role("tab", name="Chat").click()
    ask(page, "Which papers record coral reef soundscapes?", 2)
    expect(page.locator("#src-1 .card-title")).to_have_text("Listening to Coral Reefs")


def test_an_empty_collection_says_how_to_fill_it(more_collections: None, page: Page) -> None:
    pick_collection(page, "drafts")
    header = page.locator("#header")
    expect(header).to_contain_text("The collection drafts holds no papers yet", timeout=SLOW)
    expect(header).to_contain_text("paperchat --collection drafts ingest PATH")
    page.locator("#question textarea").fill(CREVASSES_Q)
    page.locator("#send").click()
    note = page.locator("#chatbot .answer.empty-collection")
    expect(note).to_contain_text("paperchat --collection drafts ingest PATH", timeout=SLOW)
    expect(page.locator("#chatbot .answer.error")).to_have_count(0)
    page.get_by_role("tab", name="Papers").click()
    expect(page.locator('#papers-table [role="gridcell"]')).to_have_count(0)
    pick_collection(page, "paperchat")  # and back: its papers again
    expect(header).to_contain_text("about 160 research-paper abstracts", timeout=SLOW)
    expect(page.locator("#papers-table")).to_contain_text("Tidal Parsing")  # newest first
