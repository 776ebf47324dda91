"""Find, normalise and check the [n] citations in an answer.

Models cite in many shapes. What maps to a source becomes `[n]`; what points at no source is
removed and reported; prose that merely looks like a citation is left alone:

- `[1, 2]`, `[1-3]`, `[1 and 2]`, `[Source 1]`, `[^1]`, `【1】`, `【1†source】`, `[1](#src)`
  → `[1][2]`, ...; out of range (`[10]` with five sources, `[0]`) → removed and reported.
- `(Source 2)`, `(sources: 1, 3)`, `(see Source 2)` → `[2]`, `[1][3]`; out of range → removed.
- A bare parenthesised small integer, `(1)` or `(1, 2)`, counts only at a clause end (before
  `.,;:!?` or the end of a line), not after an enumeration word ("step (2).", "Eq. (3)."), and
  not in a sentence that also uses `(n)` mid-sentence ("step (1) and (2)."); out of range → kept
  as written, since it may not be a citation at all.
- Bare prose `Source 2` → `Source [2]` when in range; otherwise left as written.
- A trailer `Sources: 1, 3` (a line, or after the last sentence) → `Sources: [1][3]`, dropped
  if nothing in it is valid.
- `[2023]` (four digits) is a year, not a citation: it becomes `(2023)`.
- A citation written after the full stop ("Claim. [1] Next.") moves before it ("Claim [1].").

Numbers such as 3.5, 46%, (2023), (n=5) and bracketed words like [PAUSE] are never touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LABEL = r"(?:sources?|src|refs?\.?|references?|papers?|docs?|documents?|citations?)"
_SEP = r"\s*(?:,(?:\s*(?:and\b|&))?|;|\band\b|&|[–—-])\s*"
_LIST = rf"\d{{1,3}}(?:{_SEP}(?:{_LABEL}\s*(?:[:#]\s*)?)?\d{{1,3}})*"
_BRACKETED = re.compile(
    rf"[\[【［]\s*(?:\^\s*)?(?:{_LABEL}\s*(?:[:#]\s*)?)?({_LIST})(?:\s*[†:][^\]】］\n]*)?\s*[\]】］]"
    r"(?:\((?:https?:|#)[^)\s]*\))?",
    re.IGNORECASE,
)
_YEAR = re.compile(r"\[(\d{4})\]")
_LABELLED_PARENS = re.compile(
    rf"\(\s*(?:(?:see|cf\.?)\s+)?{_LABEL}\s*(?:[:#]\s*)?({_LIST})\s*\)", re.IGNORECASE
)
_BARE_PARENS = re.compile(
    r"(?<![ \t])[ \t]*\((\d{1,2}(?:\s*[,;]\s*\d{1,2})*)\)(?=[ \t]*(?:[.,;:!?](?=\s|$)|\n|$))"
)
_ANY_BARE_PARENS = re.compile(r"\(\d{1,2}(?:\s*[,;]\s*\d{1,2})*\)")
_ENUMERATION = re.compile(
    r"\b(?:step|steps|stage|phase|part|item|case|option|point|type|and|or|eq|eqs|equation"
    r"|fig|figure|table|section|sec|theorem|lemma|ratio|level|version)\W*$",
    re.IGNORECASE,
)
_PROSE_SOURCE = re.compile(
    rf"(?<![\w-])(sources?)\s+({_LIST})\b(?![.,]?\d|%|\s*(?:million|billion|thousand|hundred|times))",
    re.IGNORECASE,
)
_ITEM = r"[\[(【^]*(?:source[ \t]*)?\d{1,3}(?!\d)[\])】]*"  # one number in a trailer list
_TRAILER = re.compile(
    r"(?:^|(?<=[.!?]))([ \t]*)(?:[>*_-]+[ \t]*)?"
    r"((?:sources?|references?|refs?|citations?)(?:[ \t]+(?:used|cited))?)"
    r"[ \t*_]*:[ \t*_]*"
    rf"({_ITEM}(?:(?:[ \t]*(?:[,;&–-]|and)[ \t]*|[ \t]+){_ITEM})*)"
    r"[ \t.*_]*$",
    re.IGNORECASE | re.MULTILINE,
)
_CITE = r"\[\d{1,3}\]"
_ABBREVIATION = re.compile(r"(?:\bal|\betc|\be\.g|\bi\.e|\bcf|\bvs|\bfig|\beq|\d)$", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<!\bal\.)(?<!e\.g\.)(?<!i\.e\.)(?<!\bvs\.)(?<=[.!?])\s+")


@dataclass(frozen=True)
class CheckedText:
    """Answer text with every citation pointing at a real source."""

    text: str
    cited: tuple[int, ...]
    removed: tuple[str, ...]
    uncited_sentences: int


def _numbers(group: str) -> list[int]:
    """Expand '1, 2', '1-3', 'source 1 and source 4' into [1, 2], [1, 2, 3], [1, 4]."""
    out: list[int] = []
    group = re.sub(rf"(?i){_LABEL}\s*[:#]?", " ", group)
    for part in re.split(r"(?i)\s*(?:,|;|\band\b|&)\s*", group):
        ends = [int(x) for x in re.findall(r"\d+", part)]
        if len(ends) == 2 and re.search(r"\d\s*[–—-]\s*\d", part):
            lo, hi = ends
            out.extend(range(lo, hi + 1) if 0 < hi - lo < 10 else [lo, hi])
        else:
            out.extend(ends)
    return out


def check_citations(text: str, n_sources: int) -> CheckedText:
    """Rewrite citations as [n], drop those that point at no source, and report both."""
    removed: list[str] = []

    def valid(nums: list[int]) -> str:
        removed.extend(f"[{n}]" for n in nums if not 1 <= n <= n_sources)
        return "".join(f"[{n}]" for n in dict.fromkeys(nums) if 1 <= n <= n_sources)

    def trailer(m: re.Match[str]) -> str:
        cites = valid(_numbers(re.sub(r"[\[\]()【】^]", ",", m.group(3))))
        return f"{m.group(1)}{m.group(2).strip()}: {cites}" if cites else ""

    def bare_parens(m: re.Match[str]) -> str:
        nums = _numbers(m.group(1))
        before = m.string[: m.start()]
        line = before[before.rfind("\n") + 1 :]
        start = max(before.rfind(c) for c in ".!?\n") + 1
        end = min((i for i in (m.string.find(c, m.end()) for c in ".!?\n") if i >= 0), default=None)
        sentence = m.string[start:end]
        enumerated = len(_ANY_BARE_PARENS.findall(sentence)) > len(_BARE_PARENS.findall(sentence))
        if (
            not line.strip()
            or _ENUMERATION.search(line)
            or enumerated
            or not all(1 <= n <= n_sources for n in nums)
        ):
            return m.group(0)
        return " " + valid(nums)

    def prose_source(m: re.Match[str]) -> str:
        nums = _numbers(m.group(2))
        ok = all(1 <= n <= n_sources for n in nums)
        return f"{m.group(1)} {valid(nums)}" if ok else m.group(0)

    out = _TRAILER.sub(trailer, text)
    out = _BRACKETED.sub(lambda m: valid(_numbers(m.group(1))), out)
    out = _YEAR.sub(r"(\1)", out)
    out = _LABELLED_PARENS.sub(lambda m: valid(_numbers(m.group(1))), out)
    out = _BARE_PARENS.sub(bare_parens, out)
    out = _PROSE_SOURCE.sub(prose_source, out)
    out = _clean(out)
    cited = tuple(dict.fromkeys(int(n) for n in re.findall(r"\[(\d{1,3})\]", out)))
    return CheckedText(out, cited, tuple(removed), _count_uncited(out))


def _move_before_stop(m: re.Match[str]) -> str:
    """Turn 'Claim. [1]' into 'Claim [1].' unless the full stop ends an abbreviation."""
    if _ABBREVIATION.search(m.string[: m.start()]):
        return m.group(0)
    return f" {m.group(2).strip()}{m.group(1)}"


def _clean(text: str) -> str:
    """Tidy what removals leave behind: empty brackets, stray spaces, doubled punctuation."""
    text = re.sub(
        r"\(\s*(?:(?:see|cf\.?|e\.g\.,?|i\.e\.,?|sources?:?)\s*)?\)|\[\s*\]|【\s*】", "", text
    )
    text = re.sub(
        rf"\[((?:{_CITE})+)\]|\(((?:{_CITE})+)\)", lambda m: m.group(1) or m.group(2), text
    )
    text = re.sub(rf"({_CITE})(?:[ \t]*[,;][ \t]*|[ \t]+)(?={_CITE})", r"\1", text)
    text = re.sub(
        rf"(?:{_CITE})+", lambda m: "".join(dict.fromkeys(re.findall(_CITE, m.group()))), text
    )
    text = re.sub(
        rf"([.!?])((?:[ \t]*{_CITE})+)(?=[ \t]*(?:\n|$)|[ \t]+[A-Z*\-])", _move_before_stop, text
    )
    text = re.sub(r"\([ \t]+", "(", text)
    text = re.sub(r"(?<![ \t])[ \t]+\)", ")", text)
    text = re.sub(r"([.!?])[ \t]+\.(?=\s|$)", r"\1", text)
    text = re.sub(r"(?<![ \t])[ \t]*,(?=[ \t]*[.!?;:](?:\s|$))", "", text)
    text = re.sub(r"(?<![ \t])[ \t]+([.,;:!?])(?=\s|$|[)\]\"'])", r"\1", text)
    text = re.sub(r"(?<=\S)[ \t]{2,}", " ", text)
    text = re.sub(r"(?m)(?<![ \t])[ \t]+$", "", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _count_uncited(text: str) -> int:
    """Count sentences (or list lines) of more than three words that carry no citation."""
    sentences = [s for line in text.splitlines() for s in _SENTENCE_END.split(line)]
    return sum(1 for s in sentences if len(s.split()) > 3 and not re.search(_CITE, s))
