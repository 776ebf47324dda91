"""The chat UI's look: system fonts, the stylesheet, and the page script for citation links."""

from __future__ import annotations

import json
from typing import Any

import gradio as gr

# System fonts only: Gradio's default theme loads Source Sans Pro from its static files, whose
# SemiBold file holds a subset of the glyphs, so bold titles mixed it with a fallback font
# (letters of two sizes). A system stack fetches no font file and looks the same offline.
FONT = (
    "system-ui",
    "-apple-system",
    "Segoe UI",
    "Roboto",
    "Helvetica Neue",
    "Noto Sans",
    "Liberation Sans",
    "Arial",
    "sans-serif",
)
FONT_MONO = (
    "ui-monospace",
    "SFMono-Regular",
    "Menlo",
    "Consolas",
    "Liberation Mono",
    "DejaVu Sans Mono",
    "monospace",
)

CSS = """
.paperchat-header h1 { margin-bottom: 0; }
.paperchat-header p { margin-top: 4px; opacity: 0.75; }
#sources-panel { max-height: 640px; overflow-y: auto; }
.sources-heading { font-weight: 600; margin: 6px 0 8px; font-size: 0.95em; }
.other-heading { margin-top: 16px; opacity: 0.8; }
.sources-empty { opacity: 0.7; font-style: italic; padding: 8px; }
.source-card { border: 1px solid var(--border-color-primary, #ddd); border-radius: 8px;
  padding: 10px 12px; margin-bottom: 10px; background: var(--background-fill-secondary);
  transition: box-shadow 0.3s, border-color 0.3s; scroll-margin-top: 12px; }
.source-card.highlight { border-color: #f59e0b; box-shadow: 0 0 0 3px rgba(245,158,11,0.45); }
.card-n { font-weight: 700; color: var(--color-accent, #f97316); }
.card-title { font-weight: 600; }
.card-authors { font-size: 0.88em; opacity: 0.8; margin-top: 2px; }
.card-source { font-size: 0.8em; opacity: 0.65; margin-top: 2px; }
.card-passage { margin: 8px 0 4px; padding: 4px 10px; border-left: 3px solid #f59e0b;
  font-size: 0.9em; font-style: italic; }
.card-abstract summary, .other-hit summary { cursor: pointer; font-size: 0.9em; }
.card-abstract p, .other-hit p { font-size: 0.88em; margin: 6px 0; }
.other-hit { padding: 4px 0; border-bottom: 1px dashed var(--border-color-primary, #ddd); }
a.cite { font-weight: 600; text-decoration: none; cursor: pointer; }
a.cite:hover { text-decoration: underline; }
a.cite { position: relative; }
.cite-quote, .claim-why { display: none; }
a.cite:hover .cite-quote, a.cite:focus .cite-quote, .claim.unsupported:hover .claim-why {
  display: block; position: absolute; left: 0; top: 1.6em; z-index: 50;
  width: min(420px, 70vw); padding: 8px 10px; border-radius: 6px; font-weight: 400;
  font-style: italic; font-size: 0.88em; line-height: 1.35; white-space: normal;
  background: var(--background-fill-primary, #fff); color: var(--body-text-color, #111);
  border: 1px solid #f59e0b; box-shadow: 0 4px 14px rgba(0,0,0,0.18); }
.cite-quote::before { content: "“"; } .cite-quote::after { content: "”"; }
.claim.unsupported { position: relative; color: var(--body-text-color-subdued, #777);
  text-decoration: underline dotted #d97706; text-underline-offset: 3px; cursor: help; }
.model-reply { font-size: 0.8em; opacity: 0.75; margin-top: 4px; }
.model-reply p { white-space: pre-wrap; }
.sent.quote-hl { background: rgba(245,158,11,0.35); border-radius: 3px; }
.answer-meta { font-size: 0.78em; opacity: 0.6; margin-top: 6px; }
.answer-notice { font-size: 0.85em; opacity: 0.8; margin-top: 4px; }
.answer.abstained { border-left: 4px solid #f59e0b; padding-left: 8px;
  background: rgba(245,158,11,0.08); }
.answer.error { border-left: 4px solid #dc2626; padding-left: 8px;
  background: rgba(220,38,38,0.08); }
.answer.empty-collection { border-left: 4px solid #3b82f6; padding-left: 8px;
  background: rgba(59,130,246,0.08); }
#compare-panel:empty { display: none; }
#papers-table table, #papers-table th, #papers-table td, #papers-table span {
  font-family: var(--font); }
.compare { overflow-x: auto; margin: 4px 0 8px; }
.compare-table { border-collapse: collapse; width: 100%; font-size: 0.86em; line-height: 1.35; }
.compare-table th, .compare-table td { border: 1px solid var(--border-color-primary, #ddd);
  padding: 6px 8px; vertical-align: top; text-align: left; }
.compare-table th { background: var(--background-fill-secondary); font-weight: 600; }
.compare-table th.aspect { width: 24%; }
.compare-title { font-weight: 600; min-width: 9em; }
.compare-n, .compare-year { white-space: nowrap; }
.compare-table .cell-empty { opacity: 0.5; text-align: center; }
.compare-table a.cite:hover .cite-quote, .compare-table .cite-quote { display: none; }
.compare-note { font-size: 0.88em; opacity: 0.8; font-style: italic; padding: 4px 0; }
"""

# Runs once on page load: installs the CSS and a delegated click handler for citation links
# (Blocks-level css/js arguments moved to launch() in Gradio 6; this keeps build_app
# self-contained whichever way the app is launched).
LOAD_JS = """
() => {
  if (window.__paperchatInstalled) return;
  window.__paperchatInstalled = true;
  const style = document.createElement('style');
  style.id = 'paperchat-style';
  style.textContent = __CSS__;
  document.head.appendChild(style);
  document.addEventListener('click', (event) => {
    const link = event.target.closest && event.target.closest('a.cite');
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const href = link.getAttribute('href') || '';
    const n = link.getAttribute('data-cite') || href.replace('#src-', '');
    const card = document.getElementById('src-' + n);
    if (!card) return;
    document.querySelectorAll('.source-card.highlight')
      .forEach((c) => c.classList.remove('highlight'));
    card.classList.add('highlight');
    card.scrollIntoView({behavior: 'smooth', block: 'center'});
    const details = card.querySelector('details');
    if (details) details.open = true;
    document.querySelectorAll('.sent.quote-hl')
      .forEach((x) => x.classList.remove('quote-hl'));
    const inner = link.querySelector('.cite-quote');
    const quote = inner ? inner.textContent.trim() : '';
    if (quote) {
      card.querySelectorAll('.sent').forEach((x) => {
        if (x.textContent.trim() === quote) x.classList.add('quote-hl');
      });
    }
  }, true);
}
""".replace("__CSS__", json.dumps(CSS))


class Blocks(gr.Blocks):
    """Blocks that launch with paperchat's theme however they are launched (Gradio 6 takes
    the theme at launch, not in the constructor)."""

    def launch(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("theme", gr.themes.Default(font=FONT, font_mono=FONT_MONO))
        return super().launch(*args, **kwargs)
