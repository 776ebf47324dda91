"""Turn an EvalRun into a rich summary table, report.md, results.json and PNG plots."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eval.harness import MODE_LABELS, RANK_DEPTH, STAGES, EvalRun

if TYPE_CHECKING:
    from rich.console import RenderableType

PLOTS = ("recall_at_k.png", "recall_by_type.png", "latency.png")
COLORS = {"lexical": "#4C72B0", "dense": "#DD8452", "hybrid": "#2CA02C"}
STAGE_LABELS = {
    "retrieval_ms": "retrieval",
    "first_claim_ms": "first claim",
    "generation_ms": "generation",
    "total_ms": "total",
}


def fmt(value: float | None, digits: int = 3) -> str:
    """Format a figure; undefined values (no such questions) print as an en dash."""
    return "–" if value is None else f"{value:.{digits}f}"


def _pr(block: dict[str, Any]) -> str:
    return f"{fmt(block['precision'], 2)} / {fmt(block['recall'], 2)}"


def _ms(block: dict[str, Any]) -> str:
    return f"{fmt(block['p50'], 1)} / {fmt(block['p95'], 1)}"


def retrieval_rows(run: EvalRun) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the retriever comparison (ours last)."""
    k = run.config["k"]
    header = [
        "retriever",
        f"recall@{k}",
        f"all-gold@{k}",
        "MRR@10",
        "nDCG@10",
        "abstention P / R",
        "search p50 / p95 ms",
    ]
    rows = []
    for mode, block in run.summary["retrieval"].items():
        a = block["all"]
        rows.append(
            [
                block["label"],
                fmt(a["recall@k"]),
                fmt(a["all_gold@k"]),
                fmt(a["mrr@10"]),
                fmt(a["ndcg@10"]),
                _pr(block["abstention"]),
                _ms(block["latency_ms"]),
            ]
        )
        if mode == "hybrid":
            rows[-1][0] = "**" + rows[-1][0] + "**"
    return header, rows


def answer_rows(run: EvalRun) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the answer metrics, overall then per question type."""
    s = run.summary["answers"]
    header = [
        "questions",
        "n",
        "answered",
        "citation precision",
        "citation recall",
        "fact coverage",
        "abstained",
        "claims supported",
        "unmarked unsupported",
        "fallbacks",
        "refusals",
    ]
    rows = []
    for name, block in [("all", s["all"]), *s["by_type"].items()]:
        rows.append(
            [
                name,
                str(block["n"]),
                str(block["answered"]),
                fmt(block["citation_precision"]),
                fmt(block["citation_recall"]),
                fmt(block["fact_coverage"]),
                fmt(block["abstained_share"], 2),
                f"{fmt(block['claim_support'], 2)}/{block['claims']}",
                str(block["unmarked_unsupported"]),
                str(block["fallbacks"]),
                str(block["refusals"]),
            ]
        )
    return header, rows


def type_rows(run: EvalRun) -> tuple[list[str], list[list[str]]]:
    """Header and rows of recall@k and MRR@10 per question type and retriever."""
    k = run.config["k"]
    retrieval = run.summary["retrieval"]
    header = ["type", "n"]
    for block in retrieval.values():
        header += [f"recall@{k} {block['label']}", f"MRR@10 {block['label']}"]
    rows = []
    first = next(iter(retrieval.values()))
    for t, base in first["by_type"].items():
        row = [t, str(base["n"])]
        for block in retrieval.values():
            b = block["by_type"][t]
            row += [fmt(b["recall@k"]), fmt(b["mrr@10"])]
        rows.append(row)
    return header, rows


def gate_lines(run: EvalRun) -> list[str]:
    """One line per headline figure: abstention, latency, faithfulness."""
    s = run.summary["answers"]
    lines = [
        f"abstention precision / recall: {_pr(s['abstention'])}"
        f" (tp {s['abstention']['tp']}, fp {s['abstention']['fp']},"
        f" fn {s['abstention']['fn']}, tn {s['abstention']['tn']})"
    ]
    lines.append(
        "latency p50 / p95 ms: "
        + ", ".join(
            f"{STAGE_LABELS[st]} {_ms(s['latency_ms'][st])}"
            for st in STAGES
            if s["latency_ms"][st]["p50"] is not None
        )
    )
    lines += model_lines(run)
    f = s["faithfulness"]
    if f["error"]:
        lines.append(f"faithfulness: judge failed ({f['error']}); partial: {_faith(f)}")
    elif f["judged"]:
        lines.append(f"faithfulness (LLM judge {run.config['judge']}): {_faith(f)}")
    else:
        lines.append("faithfulness: not judged (no LLM endpoint configured)")
    return lines


def model_lines(run: EvalRun) -> list[str]:
    """The model's answers beside the extractive backend's on the same questions."""
    s = run.summary["answers"]
    if "extractive" not in s:
        return []
    model, ext = s["all"], s["extractive"]["all"]

    def figures(b: dict[str, Any]) -> str:
        return (
            f"citation P/R {fmt(b['citation_precision'])}/{fmt(b['citation_recall'])}, "
            f"facts {fmt(b['fact_coverage'])}, claims {b['claims']} "
            f"(supported {fmt(b['claim_support'], 2)}, unmarked unsupported "
            f"{b['unmarked_unsupported']})"
        )

    return [
        f"model's own answer shown: {fmt(model['own_share'], 2)} of answerable questions "
        f"(fallbacks {model['fallbacks']}, refusals {model['refusals']})",
        f"model: {figures(model)}",
        f"extractive on the same questions: {figures(ext)}, total p50/p95 ms "
        f"{_ms(s['extractive']['latency_ms']['total_ms'])}",
    ]


def _faith(f: dict[str, Any]) -> str:
    return f"{fmt(f['score'])} ({f['supported']}/{f['claims']} cited claims supported)"


def rich_summary(run: EvalRun) -> list[RenderableType]:
    """Tables for the terminal."""
    from rich.table import Table

    c = run.config
    out: list[RenderableType] = []
    k = c["k"]
    short = {
        "retrieval": [
            "retriever",
            f"R@{k}",
            f"all@{k}",
            "MRR@10",
            "nDCG@10",
            "abst. P/R",
            "p50/p95 ms",
        ],
        "answers": [
            "questions",
            "n",
            "answered",
            "cit.P",
            "cit.R",
            "facts",
            "abst.",
            "claims",
            "unmarked",
            "fallb",
            "refus",
        ],
    }
    for title, key, (_, rows) in (
        (
            f"Retrieval: {run.summary['retrieval']['hybrid']['all']['n']} answerable of "
            f"{c['n_questions']} questions, {c['n_papers']} papers",
            "retrieval",
            retrieval_rows(run),
        ),
        (f"Answers: backend {c['backend']}, k={k}", "answers", answer_rows(run)),
    ):
        table = Table(title=title, title_justify="left")
        for i, name in enumerate(short[key]):
            table.add_column(name, justify="left" if i == 0 else "right", no_wrap=True)
        for row in rows:
            bold = row[0].startswith("**")
            cells = [x.strip("*").replace(" / ", "/") for x in row]
            table.add_row(*cells, style="bold" if bold else None)
        out.append(table)
    out.extend(gate_lines(run))
    return out


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def misses(run: EvalRun) -> list[str]:
    """Questions worth a look: gold outside the top k, wrong abstention decisions."""
    k = run.config["k"]
    out = []
    for r in run.results:
        hybrid = r.retrieval["hybrid"]
        a = r.answer
        if r.answerable and hybrid.recall is not None and hybrid.recall < 1:
            found = ", ".join(str(x + 1) for x in hybrid.gold_ranks) or "none in top 10"
            out.append(
                f"- `{r.qid}` ({r.type}) recall@{k} {hybrid.recall:.2f} — gold ranks {found}: "
                f"{r.question}"
            )
        if a is not None and a.abstained == r.answerable:
            what = "abstained on a covered question" if r.answerable else "answered, not covered"
            out.append(
                f"- `{r.qid}` ({r.type}) {what} (evidence {hybrid.relevance:.2f}): {r.question}"
            )
    return out


METRIC_NOTES = """\
Definitions (paper level; a gold entry names a paper by id, exact title or a 40+ character
abstract prefix):

- **recall@k** is capped: gold papers in the top k / min(#gold, k), averaged over answerable
  questions; **all-gold@k** is the share of questions with every gold paper in the top k (a
  question with more than k gold papers cannot reach it); **MRR@10** and **nDCG@10** (binary
  gain) rank up to 10 papers. Capped recall can dip as k grows (a question with two gold papers
  scores 1.0 at k=1 when the first is on top, 0.5 at k=2 when the second is not next).
  Rankings come from `retriever.search(question, max(k, 10), mode)`.
- **abstention P / R** (retrievers): the pipeline's rule (evidence < `min_relevance`, no author
  named) applied to that ranking; precision = abstentions that were on unanswerable questions,
  recall = unanswerable questions that abstained. For answers it is `Answer.abstained`.
- **citation precision**: cited papers that are gold, per question, averaged over answerable
  questions that were answered. **citation recall**: gold papers cited / min(#gold, k);
  **fact coverage**: share of `answer_facts` in the answer text (case-insensitive, whitespace
  normalised). Both average over all answerable questions, an abstention counting 0.
- **latency**: `Answer.timings` of `PaperChat.ask`, after one warm-up search (model load).
- **faithfulness** (only with an LLM endpoint): share of cited claims (sentence(s) ending in
  `[n]`) that the LLM judge finds supported by the cited abstracts (ALCE-style).
"""


def markdown(run: EvalRun, plots: Sequence[str]) -> str:
    """The report.md text."""
    c = run.config
    counts = ", ".join(f"{t} {b['n']}" for t, b in run.summary["answers"]["by_type"].items())
    parts = [
        "# paperchat evaluation",
        "",
        f"Question set `{c['questions']}`: {c['n_questions']} questions "
        f"({counts}); "
        f"{c['n_papers']} papers indexed; k = {c['k']}; answer backend `{c['backend']}`; "
        f"abstention threshold {c['min_relevance']}; run {c['started']} in {c['duration_s']} s.",
        "",
        "## Retrieval",
        "",
        _md_table(*retrieval_rows(run)),
        "",
        "### Per question type",
        "",
        _md_table(*type_rows(run)),
        "",
        "## Answers",
        "",
        _md_table(*answer_rows(run)),
        "",
        *[f"- {line}" for line in gate_lines(run)],
        "",
        "## Plots",
        "",
        *[f"![{p}]({p})" for p in plots],
        "",
        "## Questions to look at",
        "",
        *(misses(run) or ["None."]),
        "",
        "## Metric definitions",
        "",
        METRIC_NOTES,
    ]
    return "\n".join(parts)


def plot_recall_curves(run: EvalRun, path: Path) -> None:
    """Recall@k for k = 1..10, one line per retriever."""
    import matplotlib.pyplot as plt

    ks = list(range(1, RANK_DEPTH + 1))
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    lows = []
    for mode, block in run.summary["retrieval"].items():
        curve = [v if v is not None else float("nan") for v in block["recall_curve"]]
        lows.append(min(curve))
        ax.plot(
            ks,
            curve,
            marker="o",
            markersize=4,
            linewidth=2.4 if mode == "hybrid" else 1.6,
            color=COLORS.get(mode),
            label=block["label"],
            zorder=3 if mode == "hybrid" else 2,
        )
    k = run.config["k"]
    if k <= RANK_DEPTH:
        ax.axvline(k, color="0.6", linestyle=":", linewidth=1)
        ax.text(k + 0.1, 1.003, f"k={k}", color="0.4", fontsize=8, va="bottom")
    n = run.summary["retrieval"]["hybrid"]["all"]["n"]
    ax.set_title(f"Recall@k (capped) on {n} answerable questions", fontsize=11)
    ax.set_xlabel("k (papers retrieved)")
    ax.set_ylabel("recall@k")
    ax.set_xticks(ks)
    ax.set_ylim(max(0.0, min(min(lows) - 0.05, 0.8)), 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_recall_by_type(run: EvalRun, path: Path) -> None:
    """Grouped bars: recall@k per question type, one bar per retriever."""
    import matplotlib.pyplot as plt

    retrieval = run.summary["retrieval"]
    first = next(iter(retrieval.values()))
    types = list(first["by_type"]) + ["all"]
    width = 0.8 / len(retrieval)
    fig, ax = plt.subplots(figsize=(7.2, 4.2), dpi=120)
    for j, (mode, block) in enumerate(retrieval.items()):
        values = [
            (block["all"] if t == "all" else block["by_type"][t])["recall@k"] or 0.0 for t in types
        ]
        xs = [i + (j - (len(retrieval) - 1) / 2) * width for i in range(len(types))]
        bars = ax.bar(xs, values, width * 0.92, color=COLORS.get(mode), label=block["label"])
        if len(retrieval) == 1:
            ax.bar_label(bars, fmt="%.2f", fontsize=8, padding=2)
    k = run.config["k"]
    ax.set_xticks(
        range(len(types)),
        [f"{t}\n(n={(first['all'] if t == 'all' else first['by_type'][t])['n']})" for t in types],
    )
    ax.set_ylabel(f"recall@{k}")
    ax.set_ylim(0, 1.12 if len(retrieval) == 1 else 1.0)
    ax.set_title(f"Recall@{k} per question type", fontsize=11)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    if len(retrieval) > 1:
        ax.set_ylim(max(0.0, min(_all_recalls(retrieval)) - 0.15), 1.03)
        ax.legend(
            loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=len(retrieval), frameon=False
        )
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _all_recalls(retrieval: dict[str, Any]) -> list[float]:
    return [
        b["recall@k"]
        for block in retrieval.values()
        for b in [block["all"], *block["by_type"].values()]
        if b["recall@k"] is not None
    ]


def plot_latency(run: EvalRun, path: Path) -> None:
    """Histogram of per-question latency for each pipeline stage, p50 and p95 marked."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, axes = plt.subplots(1, len(STAGES), figsize=(11, 3.6), dpi=120)
    summary = run.summary["answers"]["latency_ms"]
    for ax, stage in zip(axes, STAGES, strict=True):
        values = [
            r.answer.timings[stage]
            for r in run.results
            if r.answer is not None and stage in r.answer.timings
        ]
        if not values:
            ax.set_axis_off()
            continue
        positive = [v for v in values if v > 0] or [0.01]
        lo, hi = min(positive), max(max(values), min(positive) * 1.1)
        values = [max(v, lo) for v in values]
        if hi / lo > 30:
            bins = np.geomspace(lo, hi, 25)
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        else:
            bins = np.linspace(0, hi * 1.05, 25)
        ax.hist(values, bins=bins, color="#4C72B0", alpha=0.85, edgecolor="white")
        for q, style in (("p50", "-"), ("p95", "--")):
            v = summary[stage][q]
            if v is not None:
                ax.axvline(v, color="#C44E52", linestyle=style, linewidth=1.2)
        ax.set_title(
            f"{STAGE_LABELS[stage]}: p50 {fmt(summary[stage]['p50'], 1)} ms (solid), "
            f"p95 {fmt(summary[stage]['p95'], 1)} ms (dashed)",
            fontsize=8.5,
        )
        ax.set_xlabel("ms per question")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[0].set_ylabel("questions")
    fig.suptitle(
        f"Answer latency per stage ({run.config['backend']} backend, {len(run.results)} questions)",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_plots(run: EvalRun, out_dir: Path) -> list[str]:
    """Write the PNGs; returns their file names (none when matplotlib is missing)."""
    try:
        import matplotlib
    except ImportError:
        return []
    matplotlib.use("Agg")
    plot_recall_curves(run, out_dir / PLOTS[0])
    plot_recall_by_type(run, out_dir / PLOTS[1])
    plot_latency(run, out_dir / PLOTS[2])
    return list(PLOTS)


def write_report(run: EvalRun, out_dir: Path) -> list[Path]:
    """Write results.json, the plots and report.md into out_dir; return the written paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results = out_dir / "results.json"
    results.write_text(json.dumps(run.to_json(), indent=2, ensure_ascii=False) + "\n", "utf-8")
    plots = write_plots(run, out_dir)
    report = out_dir / "report.md"
    report.write_text(markdown(run, plots), "utf-8")
    return [report, results, *(out_dir / p for p in plots)]


__all__ = ["write_report", "rich_summary", "markdown", "fmt", "MODE_LABELS"]
