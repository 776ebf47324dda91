"""Run a question set through retrieval and the full answer pipeline; return typed results.

For every question the harness ranks papers with `session.retriever.search` (depth
max(k, 10); once per compared mode) for the retrieval metrics, and asks the full pipeline
(`PaperChat.ask`) for the answer metrics. Aggregation lives in `summarize`, formatting in
`eval.report`. Metric definitions: `eval.metrics`.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eval import metrics as m
from rag import UNSUPPORTED_MARK

DECLINED = "the model declined to answer"  # Answer.fallback when a model refused

if TYPE_CHECKING:
    from rag import Answer, ChatModel, PaperChat, Settings

QUESTIONS = Path(__file__).parent / "questions.jsonl"
TYPES = ("lookup", "named", "multi", "author", "numeric", "unanswerable")
MODES = ("lexical", "dense", "hybrid")
MODE_LABELS = {"lexical": "BM25 alone", "dense": "dense alone", "hybrid": "hybrid (ours)"}
RANK_DEPTH = 10  # MRR@10, nDCG@10 and the recall@k curve (k = 1..10)
STAGES = ("retrieval_ms", "first_claim_ms", "generation_ms", "total_ms")


class QuestionFileError(ValueError):
    """The question set cannot be read; the message is one line naming the problem."""


@dataclass(frozen=True)
class Question:
    """One evaluation question (unanswerable when gold is empty)."""

    qid: str
    question: str
    type: str
    gold: tuple[str, ...]
    answer_facts: tuple[str, ...] = ()

    @property
    def answerable(self) -> bool:
        """Tell whether the collection covers this question."""
        return bool(self.gold)


def load_questions(path: Path = QUESTIONS) -> list[Question]:
    """Read a JSONL question set (unknown fields ignored); QuestionFileError on bad input."""
    try:
        lines = Path(path).read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionFileError(f"cannot read question set {path}: {exc}") from None
    out: list[Question] = []
    seen: set[str] = set()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError("not a JSON object")
            q = Question(
                str(row["qid"]),
                str(row["question"]),
                str(row["type"]),
                tuple(str(g) for g in row.get("gold") or ()),
                tuple(str(f) for f in row.get("answer_facts") or ()),
            )
        except (ValueError, KeyError, TypeError) as exc:
            what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            raise QuestionFileError(f"{path}:{lineno}: {what}") from None
        if q.qid in seen:
            raise QuestionFileError(f"{path}:{lineno}: duplicate qid {q.qid}")
        seen.add(q.qid)
        out.append(q)
    if not out:
        raise QuestionFileError(f"{path}: no questions")
    return out


def first_of_each_type(questions: Sequence[Question], n: int) -> list[Question]:
    """The first n questions of each type, in file order."""
    seen: dict[str, int] = defaultdict(int)
    out = []
    for q in questions:
        seen[q.type] += 1
        if seen[q.type] <= n:
            out.append(q)
    return out


@dataclass(frozen=True)
class RetrievalResult:
    """One question ranked by one retriever mode."""

    mode: str
    ranked: tuple[str, ...]  # paper ids, best first (depth max(k, 10))
    gold_ranks: tuple[int, ...]  # 0-based ranks of the gold papers found
    recall_curve: tuple[float, ...]  # recall@1..10; empty for unanswerable questions
    recall: float | None  # recall@k (None when unanswerable, as for the other three)
    all_gold: float | None
    mrr: float | None
    ndcg: float | None
    relevance: float  # the evidence score the abstention rule reads
    abstained: bool  # the pipeline's abstention rule applied to this ranking
    latency_ms: float


@dataclass(frozen=True)
class Judgement:
    """One cited claim of an answer, judged against the abstracts it cites."""

    claim: str
    cites: tuple[int, ...]
    supported: bool


@dataclass(frozen=True)
class AnswerResult:
    """What the full pipeline answered and how it scores."""

    backend: str
    abstained: bool
    text: str
    cited: tuple[str, ...]  # cited paper ids, in citation order
    cited_gold: tuple[bool, ...]
    citation_precision: float | None  # None: unanswerable, abstained, or nothing cited
    citation_recall: float | None  # None for unanswerable; 0.0 when it abstained
    fact_coverage: float | None  # None for unanswerable; 0.0 when it abstained
    missing_facts: tuple[str, ...]
    timings: dict[str, float]
    notices: tuple[str, ...] = ()
    judgements: tuple[Judgement, ...] | None = None  # None: not judged
    claims: int = 0  # claims shown (checked against the sources)
    supported_claims: int = 0
    unmarked_unsupported: int = 0  # unsupported claims shown without the mark (must be 0)
    fallback: str | None = None  # why the model's reply was replaced by an extractive answer
    refused: bool = False  # the model declined to answer
    own: bool = False  # the text shown is the model's own answer (no fallback, no abstention)
    model_reply: str | None = None  # what the model wrote, raw

    @property
    def faithfulness(self) -> float | None:
        """Share of cited claims the judge found supported."""
        if not self.judgements:
            return None
        return sum(j.supported for j in self.judgements) / len(self.judgements)


@dataclass(frozen=True)
class QuestionResult:
    """Everything measured for one question."""

    qid: str
    type: str
    question: str
    gold: tuple[str, ...]
    answer_facts: tuple[str, ...]
    retrieval: dict[str, RetrievalResult]
    answer: AnswerResult | None
    extractive: AnswerResult | None = None  # the extractive answer beside a model's, if asked

    @property
    def answerable(self) -> bool:
        """Tell whether the collection covers this question."""
        return bool(self.gold)


@dataclass
class EvalRun:
    """A finished evaluation: configuration, per-question results and aggregates."""

    config: dict[str, Any]
    results: list[QuestionResult]
    summary: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (what results.json holds)."""
        questions = []
        for r in self.results:
            row = asdict(r)
            if r.answer is not None:
                row["answer"]["faithfulness"] = r.answer.faithfulness
            questions.append(row)
        return {"config": self.config, "summary": self.summary, "questions": questions}


def llm_configured(settings: Settings) -> bool:
    """Tell whether an OpenAI-compatible endpoint is configured (the judge needs one)."""
    return bool(settings.openai_api_key or settings.openai_base_url)


def retrieve(session: PaperChat, q: Question, k: int, mode: str) -> RetrievalResult:
    """Rank papers for one question with one retriever mode and score the ranking."""
    start = time.perf_counter()
    result = session.retriever.search(q.question, max(k, RANK_DEPTH), mode=mode)  # type: ignore[arg-type]
    latency = (time.perf_counter() - start) * 1000
    papers = [h.paper for h in result.hits]
    ranks = m.gold_ranks(papers, q.gold)
    n = len(q.gold)
    abstained = not session.covers(result)
    return RetrievalResult(
        mode=mode,
        ranked=tuple(p.id for p in papers),
        gold_ranks=tuple(ranks),
        recall_curve=tuple(m.recall_at_k(ranks, n, i) for i in range(1, RANK_DEPTH + 1))
        if n
        else (),
        recall=m.recall_at_k(ranks, n, k) if n else None,
        all_gold=m.all_gold_at_k(ranks, n, k) if n else None,
        mrr=m.mrr_at_k(ranks, RANK_DEPTH) if n else None,
        ndcg=m.ndcg_at_k(ranks, n, RANK_DEPTH) if n else None,
        relevance=round(float(result.relevance), 4),
        abstained=bool(abstained),
        latency_ms=round(latency, 2),
    )


def unmarked_unsupported(answer: Answer) -> int:
    """Claims shown as if supported that are not: unmarked, uncited, or not in the text."""
    return sum(
        1
        for c in answer.claims
        if (not c.supported and UNSUPPORTED_MARK not in c.display)
        or (c.supported and not c.citations)
        or c.display not in answer.text
    )


def score_answer(answer: Answer, q: Question, k: int) -> AnswerResult:
    """Score one Answer record against the question's gold papers and facts."""
    by_id = {h.paper.id: h.paper for h in answer.hits}
    cited = tuple(dict.fromkeys(c.paper_id for c in answer.citations))
    flags = tuple(m.is_gold(by_id[pid], q.gold) if pid in by_id else pid in q.gold for pid in cited)
    if not q.answerable:
        precision = recall = coverage = None
        missing: list[str] = []
    elif answer.abstained:
        precision, recall, coverage, missing = None, 0.0, 0.0, list(q.answer_facts)
    else:
        precision = m.citation_precision(flags)
        recall = m.citation_recall(sum(flags), len(q.gold), k)
        coverage, missing = m.fact_coverage(answer.text, q.answer_facts)
    return AnswerResult(
        backend=answer.backend,
        abstained=answer.abstained,
        text=answer.text,
        cited=cited,
        cited_gold=flags,
        citation_precision=precision,
        citation_recall=recall,
        fact_coverage=coverage,
        missing_facts=tuple(missing),
        timings=dict(answer.timings),
        notices=answer.notices,
        claims=len(answer.claims),
        supported_claims=sum(c.supported for c in answer.claims),
        unmarked_unsupported=unmarked_unsupported(answer),
        fallback=answer.fallback,
        refused=answer.model is not None
        and (answer.fallback == DECLINED or (answer.abstained and answer.model_reply is not None)),
        own=answer.model is not None and answer.fallback is None and not answer.abstained,
        model_reply=answer.model_reply,
    )


JUDGE_SYSTEM = (
    "You verify citations. Given a premise (the cited paper abstracts) and a claim, answer "
    '"yes" if the premise fully supports the claim and "no" otherwise. Reply with one word.'
)


def judge_answer(chat: ChatModel, answer: Answer) -> tuple[Judgement, ...]:
    """ALCE-style check: is each cited claim entailed by the abstracts it cites?"""
    from rag import ChatMessage

    papers = {h.paper.id: h.paper for h in answer.hits}
    sources = {c.n: papers.get(c.paper_id) for c in answer.citations}
    passages = {c.n: c.passage for c in answer.citations}
    out = []
    for claim, numbers in m.cited_claims(answer.text):
        premise = "\n\n".join(
            f"{p.title}. {p.abstract}" if (p := sources.get(n)) else passages.get(n, "")
            for n in numbers
        ).strip()
        if not premise:
            out.append(Judgement(claim, numbers, False))  # cites a source that is not there
            continue
        reply = chat.complete(
            [
                ChatMessage("system", JUDGE_SYSTEM),
                ChatMessage("user", f"Premise:\n{premise}\n\nClaim:\n{claim}\n\nSupported?"),
            ]
        )
        out.append(
            Judgement(claim, numbers, reply.strip().lower().lstrip("\"'*").startswith("yes"))
        )
    return tuple(out)


Progress = Callable[[int, int, str], None]


def run_eval(
    session: PaperChat,
    questions: Sequence[Question],
    k: int | None = None,
    backend: str | None = None,
    compare: bool = False,
    judge: bool = False,
    progress: Progress | None = None,
    question_file: str = "",
) -> EvalRun:
    """Evaluate retrieval (one or three modes) and full answers on a question set.

    The session is warmed up first (model load, abstract sentences embedded) so latency is
    that of a running server, not of the first use.
    A judge failure (unreachable endpoint, bad key) stops judging and is recorded in
    `summary["answers"]["faithfulness"]["error"]`; the deterministic metrics are unaffected.
    """
    from rag import LLMError

    k = k or session.settings.top_k
    modes = MODES if compare else ("hybrid",)
    for mode in modes:  # warm-up: model load and first Chroma query happen here
        session.retriever.search("warm-up question", 1, mode=mode)  # type: ignore[arg-type]
    session.warm()  # abstract sentences embedded up front, as `paperchat serve` does
    chat = session.chat_model() if judge else None
    judge_error: str | None = None
    started = time.perf_counter()
    results: list[QuestionResult] = []
    for i, q in enumerate(questions):
        if progress:
            progress(i, len(questions), q.qid)
        retrieval = {mode: retrieve(session, q, k, mode) for mode in modes}
        answer = session.ask(q.question, k=k, backend=backend)
        scored = score_answer(answer, q, k)
        beside = None
        if answer.model is not None or answer.backend == "openai":
            beside = score_answer(session.ask(q.question, k=k, backend="extractive"), q, k)
        if chat is not None and judge_error is None and not answer.abstained:
            try:
                scored = _with_judgements(scored, judge_answer(chat, answer))
            except LLMError as exc:
                judge_error = str(exc)
        results.append(
            QuestionResult(
                q.qid, q.type, q.question, q.gold, q.answer_facts, retrieval, scored, beside
            )
        )
    if progress:
        progress(len(questions), len(questions), "")
    resolved = (
        session.settings.model_copy(update={"backend": backend}) if backend else session.settings
    ).resolved_backend()
    config = {
        "questions": question_file,
        "n_questions": len(questions),
        "k": k,
        "rank_depth": RANK_DEPTH,
        "backend": resolved,
        "modes": list(modes),
        "min_relevance": session.settings.min_relevance,
        "n_papers": len(session.retriever.papers),
        "judge": chat.name if chat is not None else None,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - started, 2),
    }
    run = EvalRun(config, results)
    run.summary = summarize(results, k, judged=chat is not None, judge_error=judge_error)
    return run


def _with_judgements(scored: AnswerResult, judgements: tuple[Judgement, ...]) -> AnswerResult:
    from dataclasses import replace

    return replace(scored, judgements=judgements)


def _rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _retrieval_block(rows: Sequence[RetrievalResult]) -> dict[str, Any]:
    scored = [r for r in rows if r.recall is not None]
    return {
        "n": len(scored),
        "recall@k": _rounded(m.mean(r.recall for r in scored)),
        "all_gold@k": _rounded(m.mean(r.all_gold for r in scored)),
        "mrr@10": _rounded(m.mean(r.mrr for r in scored)),
        "ndcg@10": _rounded(m.mean(r.ndcg for r in scored)),
    }


def _answer_block(rows: Sequence[QuestionResult]) -> dict[str, Any]:
    answers = [r.answer for r in rows if r.answer is not None]
    answerable = [a for r, a in zip(rows, answers, strict=True) if r.answerable]
    return {
        "n": len(answers),
        "answered": sum(not a.abstained for a in answers),
        "abstained_share": _rounded(m.mean(float(a.abstained) for a in answers)),
        "citation_precision": _rounded(m.mean(a.citation_precision for a in answerable)),
        "citation_recall": _rounded(m.mean(a.citation_recall for a in answerable)),
        "fact_coverage": _rounded(m.mean(a.fact_coverage for a in answerable)),
        "claims": sum(a.claims for a in answers),
        "claim_support": _rounded(
            sum(a.supported_claims for a in answers) / sum(a.claims for a in answers)
            if any(a.claims for a in answers)
            else None
        ),
        "unmarked_unsupported": sum(a.unmarked_unsupported for a in answers),
        "fallbacks": sum(a.fallback is not None and not a.refused for a in answers),
        "refusals": sum(a.refused for a in answers),
        "own_share": _rounded(
            m.mean(float(a.own) for a in answerable)
            if any(a.backend == "openai" for a in answers)
            else None
        ),
    }


def _abstention_dict(pairs: Sequence[tuple[bool, bool]]) -> dict[str, Any]:
    a = m.abstention(pairs)
    return {
        "precision": _rounded(a.precision),
        "recall": _rounded(a.recall),
        **asdict(a),
    }


def _latency(values: Sequence[float]) -> dict[str, float | None]:
    return {
        "p50": _rounded(m.percentile(values, 50), 2),
        "p95": _rounded(m.percentile(values, 95), 2),
        "mean": _rounded(m.mean(values), 2),
        "max": _rounded(max(values), 2) if values else None,
    }


def summarize(
    results: Sequence[QuestionResult],
    k: int,
    judged: bool = False,
    judge_error: str | None = None,
) -> dict[str, Any]:
    """Aggregate per-question results overall and per question type."""
    by_type: dict[str, list[QuestionResult]] = defaultdict(list)
    for r in results:
        by_type[r.type].append(r)
    types = [t for t in TYPES if t in by_type] + sorted(set(by_type) - set(TYPES))
    modes = list(results[0].retrieval) if results else []
    retrieval: dict[str, Any] = {}
    for mode in modes:
        rows = [r.retrieval[mode] for r in results]
        curves = [r.recall_curve for r in rows if r.recall_curve]
        retrieval[mode] = {
            "label": MODE_LABELS.get(mode, mode),
            "all": _retrieval_block(rows),
            "by_type": {
                t: _retrieval_block([r.retrieval[mode] for r in by_type[t]])
                for t in types
                if any(x.answerable for x in by_type[t])
            },
            "recall_curve": [
                _rounded(sum(c[i] for c in curves) / len(curves)) if curves else None
                for i in range(RANK_DEPTH)
            ],
            "abstention": _abstention_dict(
                [(not r.answerable, r.retrieval[mode].abstained) for r in results]
            ),
            "latency_ms": _latency([r.latency_ms for r in rows]),
        }
    answered = [r for r in results if r.answer is not None]
    judgements = [
        j for r in answered if r.answer and r.answer.judgements for j in r.answer.judgements
    ]
    answers: dict[str, Any] = {
        "all": _answer_block(answered),
        "by_type": {t: _answer_block([r for r in answered if r.type == t]) for t in types},
        "abstention": _abstention_dict(
            [(not r.answerable, r.answer.abstained) for r in answered if r.answer]
        ),
        "latency_ms": {
            stage: _latency(
                [
                    r.answer.timings[stage]
                    for r in answered
                    if r.answer and stage in r.answer.timings
                ]
            )
            for stage in STAGES
        },
        "faithfulness": {
            "judged": judged,
            "claims": len(judgements),
            "supported": sum(j.supported for j in judgements),
            "score": _rounded(m.mean(float(j.supported) for j in judgements)),
            "error": judge_error,
        },
    }
    beside = [r for r in results if r.extractive is not None]
    if beside:  # the extractive backend on the same questions, for comparison
        rows = [replace(r, answer=r.extractive) for r in beside]
        answers["extractive"] = {
            "all": _answer_block(rows),
            "latency_ms": {
                stage: _latency(
                    [
                        r.extractive.timings[stage]
                        for r in beside
                        if r.extractive and stage in r.extractive.timings
                    ]
                )
                for stage in ("total_ms",)
            },
        }
    return {"k": k, "types": types, "retrieval": retrieval, "answers": answers}


GATE = {
    "recall@5": 0.95,
    "citation precision": 0.95,
    "fact coverage": 0.45,
    "abstention precision": 0.85,
}


def gate_figures(summary: dict[str, Any]) -> dict[str, float | None]:
    """Pick the figures the quality gate checks out of a run summary."""
    return {
        "recall@5": summary["retrieval"]["hybrid"]["all"]["recall@k"],
        "citation precision": summary["answers"]["all"]["citation_precision"],
        "fact coverage": summary["answers"]["all"]["fact_coverage"],
        "abstention precision": summary["answers"]["abstention"]["precision"],
    }


def gate_failures(summary: dict[str, Any]) -> dict[str, str]:
    """Return each gate figure below its bar, with the measured value and the bar."""
    figures = gate_figures(summary)
    return {
        name: f"{figures[name]} < {bar}"
        for name, bar in GATE.items()
        if figures[name] is None or figures[name] < bar  # type: ignore[operator]
    }
