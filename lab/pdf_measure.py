"""Measure the PDF loader: generated papers (scored) and a folder of real PDFs (for review).

    python -m lab.pdf_measure --generated 200
    python -m lab.pdf_measure --folder ~/Zotero/storage > review.txt

Generated papers come from tests/pdfgen.py (reportlab), so their true title, abstract,
authors and identifiers are known and each field is scored. Real PDFs have no answer key:
their extracted fields are printed, one block a file, for a person to judge.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from rag.corpus.loaders.base import UnreadableFile
from rag.corpus.loaders.pdf import parse_pdf
from rag.text import clean


def generated(n: int) -> None:
    """Score n generated papers field by field."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.pdfgen import make_pdf, random_spec

    fields = dict.fromkeys(("title", "abstract", "authors", "arxiv", "doi", "year"), 0)
    misses: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(n):
            spec = random_spec(seed)
            path = make_pdf(spec, Path(tmp) / f"{seed}.pdf")
            try:
                (draft,), _ = parse_pdf(path)
            except UnreadableFile as exc:
                misses.append(f"{seed} {spec.layout} {spec.heading!r}: {exc}")
                continue
            got = {
                "title": draft.title == spec.title,
                "abstract": clean(draft.abstract) == clean(spec.abstract),
                "authors": list(draft.authors) == spec.authors,
                "arxiv": draft.arxiv_id == (spec.arxiv[:-2] if spec.arxiv else None),
                "doi": draft.doi == spec.doi,
                "year": draft.year == spec.year,
            }
            for key, ok in got.items():
                fields[key] += ok
            if not (got["title"] and got["abstract"]):
                misses.append(f"{seed} {spec.layout} {spec.heading!r}: {draft.title!r}")
    print(" ".join(f"{k}={v}/{n}" for k, v in fields.items()))
    for miss in misses:
        print("miss:", miss)


def folder(root: Path) -> None:
    """Print what is read from every PDF under root."""
    for path in sorted(root.rglob("*.pdf")):
        start = time.perf_counter()
        print(f"=== {path}")
        try:
            (draft,), _ = parse_pdf(path)
        except UnreadableFile as exc:
            print(f"skipped: {exc}")
        else:
            print(f"title:    {draft.title}")
            print(f"authors:  {', '.join(draft.authors)}")
            print(f"year: {draft.year}  arXiv: {draft.arxiv_id}  DOI: {draft.doi}")
            print(f"abstract: {draft.abstract}")
        print(f"({time.perf_counter() - start:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", type=int, default=0, help="score this many generated PDFs")
    parser.add_argument("--folder", type=Path, help="print what is read from the PDFs under it")
    args = parser.parse_args()
    if args.generated:
        generated(args.generated)
    if args.folder:
        folder(args.folder)


if __name__ == "__main__":
    main()
