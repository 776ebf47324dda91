#!/usr/bin/env python3
"""Check the gold annotations of the paperchat development question set.

Usage: python3 lab/check_gold.py [--questions FILE] [--seeds DIR]
Defaults (relative to the project root): eval/questions.jsonl and corpus/seeds,
or /work/shared/seeds if corpus/seeds does not exist. Stdlib only; the seeds are
parsed here, independently of rag/ (author list: title/authors/abstract triples;
daily papers: title and abstract paragraphs after a date line, "• N authors" /
"·" / "Sep 16 1" noise dropped; "Abstract:" lines without titles). Papers are
deduplicated by normalised abstract text.

Per question: valid JSON object, required fields, allowed type, unique qid; each
gold entry matches exactly one paper (exact title, or a >= 40 char prefix of its
whitespace-normalised abstract), no two entries the same paper; each answer fact
(1-4 words) occurs case-insensitively in a gold paper's abstract or title;
unanswerable questions have empty gold and facts. Exits 1 with one line per
problem, else prints a summary (type and seed-file counts) and exits 0.
"""

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TYPES = ("lookup", "named", "multi", "author", "numeric", "unanswerable")
FIELDS = ("qid", "question", "type", "gold", "answer_facts")
DATE = re.compile(r"^[A-Z][a-z]{2} \d{1,2}(, \d{4})?( \d+)?$")  # "Mar 11", "Sep 1, 2023 2"
MIN_PREFIX = 40


def norm(s):
    return " ".join(s.split())


def parse_seed(text):
    """Return (layout, [(title or None, abstract), ...]) for one seed file."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and lines[0].startswith("Abstract:"):
        out = []
        for line in lines:
            if line.startswith("Abstract:"):
                out.append([None, line[len("Abstract:") :]])
            elif out:  # wrapped continuation line
                out[-1][1] += " " + line
        return "abstracts", [(t, a) for t, a in out]
    if lines and (lines[0] == "new" or "Get trending papers" in text):
        paras = [norm(p) for p in re.split(r"\n\s*\n", text) if p.strip()]
        start = next((i + 1 for i, p in enumerate(paras) if DATE.match(p)), 0)
        body = [p for p in paras[start:] if not (p[0] in "•·" or DATE.match(p))]
        if len(body) % 2:
            raise ValueError("odd number of title/abstract paragraphs")
        return "daily", list(zip(body[0::2], body[1::2], strict=True))
    body = lines[1:]
    if len(body) % 3:
        raise ValueError("author-list body is not made of title/authors/abstract triples")
    return "authors", list(zip(body[0::3], body[2::3], strict=False))


def load_papers(seed_dir, problems):
    papers, per_file, untitled = {}, {}, set()
    for path in sorted(Path(seed_dir).glob("*.txt")):
        label = path.name.split("_")[0]
        try:
            layout, pairs = parse_seed(path.read_text(encoding="utf-8"))
        except ValueError as e:
            problems.append(f"{path.name}: parse error: {e}")
            continue
        per_file[label] = len(pairs)
        if layout == "abstracts":
            untitled.add(label)
        for title, abstract in pairs:
            p = papers.setdefault(
                norm(abstract).lower(), {"title": None, "abstract": norm(abstract), "files": set()}
            )
            p["title"] = p["title"] or title
            p["files"].add(label)
    return list(papers.values()), per_file, untitled


def check_question(q, papers, problems, where):
    """Append problems for question q; return the list of gold papers it hits."""
    missing = [f for f in FIELDS if f not in q]
    if missing:
        return problems.append(f"{where}: missing fields {missing}") or []
    if q["type"] not in TYPES:
        problems.append(f"{where}: bad type {q['type']!r}")
    if not isinstance(q["question"], str) or not q["question"].strip():
        problems.append(f"{where}: empty question")
    gold, facts = q["gold"], q["answer_facts"]
    if not (isinstance(gold, list) and isinstance(facts, list)):
        return problems.append(f"{where}: gold and answer_facts must be lists") or []
    if q["type"] == "unanswerable":
        if gold or facts:
            problems.append(f"{where}: unanswerable question with gold/facts")
        return []
    if not gold or not facts:
        problems.append(f"{where}: answerable question needs gold and answer_facts")
    hit = []
    for entry in gold:
        e = norm(entry) if isinstance(entry, str) else ""
        found = [
            p
            for p in papers
            if entry == p["title"] or (len(e) >= MIN_PREFIX and p["abstract"].startswith(e))
        ]
        if len(found) != 1:
            problems.append(f"{where}: gold entry matches {len(found)} papers: {str(entry)[:60]!r}")
        elif any(found[0] is h for h in hit):
            problems.append(f"{where}: two gold entries hit the same paper: {entry[:60]!r}")
        else:
            hit.append(found[0])
    texts = [(p["abstract"] + " " + (p["title"] or "")).lower() for p in hit]
    for fact in facts:
        if not isinstance(fact, str) or not 1 <= len(fact.split()) <= 4:
            problems.append(f"{where}: answer fact must be 1-4 words: {fact!r}")
        elif not any(norm(fact).lower() in t for t in texts):
            problems.append(f"{where}: fact not in any gold paper: {fact!r}")
    return hit


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    seeds = ROOT / "corpus" / "seeds"
    ap.add_argument("--questions", default=str(ROOT / "eval" / "questions.jsonl"))
    ap.add_argument("--seeds", default=str(seeds if seeds.is_dir() else "/work/shared/seeds"))
    args = ap.parse_args()
    problems = []
    papers, per_file, untitled = load_papers(args.seeds, problems)
    if not papers:
        problems.append(f"no papers parsed from {args.seeds}")
    try:
        lines = Path(args.questions).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        lines = []
        problems.append(f"cannot read questions: {e}")
    types, files, qids, n, n_untitled = Counter(), Counter(), set(), 0, 0
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            q = json.loads(line)
            if not isinstance(q, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:  # includes json.JSONDecodeError
            problems.append(f"line {lineno}: invalid JSON: {e}")
            continue
        n += 1
        qid = q.get("qid")
        where = f"line {lineno} ({qid})"
        if not isinstance(qid, str) or not re.fullmatch(r"q\d{3,}", qid):
            problems.append(f"{where}: qid must look like 'q001'")
        elif qid in qids:
            problems.append(f"{where}: duplicate qid")
        qids.add(str(qid))
        hit = check_question(q, papers, problems, where)
        types[str(q.get("type"))] += 1
        labels = set().union(*(p["files"] for p in hit))
        files.update(labels)
        n_untitled += bool(labels & untitled)
    for p in problems:
        print(p)
    if problems:
        print(f"FAILED: {len(problems)} problem(s)")
        return 1
    print(
        f"seeds: {args.seeds} -> {len(papers)} unique papers ("
        + ", ".join(f"{k}: {v}" for k, v in sorted(per_file.items()))
        + ")"
    )
    print(f"questions: {n} OK")
    print("per type: " + ", ".join(f"{t}={types[t]}" for t in TYPES))
    print("questions per seed file: " + ", ".join(f"{k}={files[k]}" for k in sorted(per_file)))
    print(f"questions targeting untitled abstracts ({', '.join(sorted(untitled))}): {n_untitled}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
