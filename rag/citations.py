"""Find, normalise and check the [n] citations in an answer."""

from __future__ import annotations

import re
from dataclasses import dataclass

# [1], [1, 2], [1,2,3], [1-3], [Source 1], [^1]
_GROUP = re.compile(r"\[\^?(?:source\s*)?(\d+(?:\s*[,;–-]\s*(?:source\s*)?\d+)*)\]", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class CheckedText:
    """Answer text with every citation pointing at a real source."""

    text: str
    cited: tuple[int, ...]
    removed: tuple[str, ...]
    uncited_sentences: int


def _numbers(group: str) -> list[int]:
    out: list[int] = []
    for part in re.split(r"\s*[,;]\s*", group):
        part = re.sub(r"(?i)source\s*", "", part)
        if re.fullmatch(r"\d+\s*[–-]\s*\d+", part):
            lo, hi = (int(x) for x in re.split(r"\s*[–-]\s*", part))
            out.extend(range(lo, hi + 1) if 0 < hi - lo < 10 else [lo, hi])
        elif part.strip().isdigit():
            out.append(int(part))
    return out


def check_citations(text: str, n_sources: int) -> CheckedText:
    """Rewrite citations as [n], drop those that point at no source, and report both."""
    removed: list[str] = []
    cited: list[int] = []

    def fix(match: re.Match[str]) -> str:
        nums = _numbers(match.group(1))
        good = [n for n in dict.fromkeys(nums) if 1 <= n <= n_sources]
        removed.extend(f"[{n}]" for n in nums if not 1 <= n <= n_sources)
        cited.extend(good)
        return "".join(f"[{n}]" for n in good)

    fixed = _GROUP.sub(fix, text)
    fixed = re.sub(r"[ \t]+([.,;:])", r"\1", fixed)
    fixed = re.sub(r"[ \t]{2,}", " ", fixed).strip()
    sentences = [s for s in _SENTENCE_END.split(fixed) if len(s.split()) > 3]
    uncited = sum(1 for s in sentences if not re.search(r"\[\d+\]", s))
    return CheckedText(fixed, tuple(dict.fromkeys(cited)), tuple(removed), uncited)
