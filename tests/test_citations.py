"""Citation checking: normalise what maps to a source, drop what cites nothing."""

from rag.answer.citations import check_citations


def test_valid_citations_kept_and_listed() -> None:
    checked = check_citations("TokenSkip skips tokens [1]. ReCUT balances length [2].", 3)
    assert checked.text == "TokenSkip skips tokens [1]. ReCUT balances length [2]."
    assert checked.cited == (1, 2) and checked.removed == () and checked.uncited_sentences == 0


def test_grouped_and_labelled_forms_are_normalised() -> None:
    checked = check_citations("Both do it [1, 2]. See also [Source 3] and [^1].", 3)
    assert checked.text == "Both do it [1][2]. See also [3] and [1]."
    assert checked.cited == (1, 2, 3)


def test_out_of_range_citations_removed_and_reported() -> None:
    checked = check_citations("A claim [7]. Another [2, 9].", 5)
    assert checked.text == "A claim. Another [2]."
    assert checked.removed == ("[7]", "[9]") and checked.cited == (2,)


def test_sentences_without_citation_are_counted() -> None:
    checked = check_citations("This sentence has no source at all. This one does [1].", 2)
    assert checked.uncited_sentences == 1


# ---- messy real-model shapes -------------------------------------------------------------

import pytest  # noqa: E402

from rag.answer.citations import CheckedText  # noqa: E402

# (model text, n_sources, expected text, expected cited, expected removed)
NORMALISED = [
    (
        "Both cut length [1] [2], and ReCUT balances it [3].",
        5,
        "Both cut length [1][2], and ReCUT balances it [3].",
        (1, 2, 3),
        (),
    ),
    ("Shown in [1], [3].", 5, "Shown in [1][3].", (1, 3), ()),
    ("It works [1-3].", 5, "It works [1][2][3].", (1, 2, 3), ()),
    ("It works [1–3].", 5, "It works [1][2][3].", (1, 2, 3), ()),
    ("It works [1, 2, and 3].", 5, "It works [1][2][3].", (1, 2, 3), ()),
    ("It works [1 and 2].", 5, "It works [1][2].", (1, 2), ()),
    ("It works [Source 1, Source 3].", 5, "It works [1][3].", (1, 3), ()),
    ("It works [Sources 1, 3].", 5, "It works [1][3].", (1, 3), ()),
    ("It works [source: 2].", 5, "It works [2].", (2,), ()),
    ("It works [^2].", 5, "It works [2].", (2,), ()),
    ("It works 【1】.", 5, "It works [1].", (1,), ()),
    ("It works 【4†source】.", 5, "It works [4].", (4,), ()),
    ("It works [2](#source-2).", 5, "It works [2].", (2,), ()),
    ("Nested [[1]] and ([2]) forms.", 5, "Nested [1] and [2] forms.", (1, 2), ()),
    ("A claim [2] [2] [2].", 5, "A claim [2].", (2,), ()),
    ("It works (Source 2).", 5, "It works [2].", (2,), ()),
    ("It works (Sources: 1, 3).", 5, "It works [1][3].", (1, 3), ()),
    ("It works (see Source 2).", 5, "It works [2].", (2,), ()),
    ("It works (1).", 5, "It works [1].", (1,), ()),
    ("Sold under the brand (1).", 5, "Sold under the brand [1].", (1,), ()),
    ("It is a vector (2), not a scalar.", 5, "It is a vector [2], not a scalar.", (2,), ()),
    ("It works (1, 2), and fast (3).", 5, "It works [1][2], and fast [3].", (1, 2, 3), ()),
    (
        "Line one here (2)\nline two here (4).",
        5,
        "Line one here [2]\nline two here [4].",
        (2, 4),
        (),
    ),
    ("As Source 2 shows, it works.", 5, "As Source [2] shows, it works.", (2,), ()),
    ("Claim one. [1] Claim two. [2]", 5, "Claim one [1]. Claim two [2].", (1, 2), ()),
    (
        "TokenSkip prunes tokens.\n\nSources: 1, 3",
        5,
        "TokenSkip prunes tokens.\n\nSources: [1][3]",
        (1, 3),
        (),
    ),
    ("Prunes tokens.\nSources: [1], [3]", 5, "Prunes tokens.\nSources: [1][3]", (1, 3), ()),
    ("Prunes tokens.\n**Sources:** 1, 7", 5, "Prunes tokens.\nSources: [1]", (1,), ("[7]",)),
    ("Prunes tokens.\nReferences: 8, 9", 5, "Prunes tokens.", (), ("[8]", "[9]")),
    ("It works [10].", 5, "It works.", (), ("[10]",)),
    ("It works [0].", 5, "It works.", (), ("[0]",)),
    ("It works [3, 10].", 5, "It works [3].", (3,), ("[10]",)),
    ("Both [1][2][10].", 5, "Both [1][2].", (1, 2), ("[10]",)),
    ("It works (Source 9).", 5, "It works.", (), ("[9]",)),
    ("Prunes tokens (see [7]).", 5, "Prunes tokens.", (), ("[7]",)),
    ("A [7], B [2].", 5, "A, B [2].", (2,), ("[7]",)),
    ("A, [7].", 5, "A.", (), ("[7]",)),
    ("Only [6] here [6].", 5, "Only here.", (), ("[6]", "[6]")),
    ("Year [2023] results [1].", 5, "Year (2023) results [1].", (1,), ()),
]


@pytest.mark.parametrize(("raw", "n", "text", "cited", "removed"), NORMALISED)
def test_messy_forms_are_normalised_or_removed(
    raw: str, n: int, text: str, cited: tuple[int, ...], removed: tuple[str, ...]
) -> None:
    checked = check_citations(raw, n)
    assert (checked.text, checked.cited, checked.removed) == (text, cited, removed)


UNTOUCHED = [
    "We do step (1) and (2).",
    "We use (1) a sparse graph and (2) a dense one.",
    "This was shown in Eq. (3).",
    "Mixed (1) and [2] here (3).",
    "Published in (2023).",
    "It scored 3.5 points and 46% (n=5) [1].",
    "Say [PAUSE] then continue [2].",
    "Gains of (12) points.",
    "It works (9).",  # out of range and bare: maybe not a citation, so kept as written
    "Open-source 3 models are common.",
    "This relies on the source 1 million times.",
    "Smith et al. [1] propose it.",
    "1. [1]\n2. [2]",
    "Scores rose from 0.5 to 0.75 [1].",
    "Version [1.5] of the model [2].",
    "The model is trained (e.g., [1]).",
    "Results improve (by 12%) overall [1].",
    "- TokenSkip prunes tokens [1]\n- ReCUT balances [2]",
    "Recall@5 is 0.956 and MRR@10 is 0.956 [2].",
]


@pytest.mark.parametrize("raw", UNTOUCHED)
def test_prose_that_only_looks_like_a_citation_is_untouched(raw: str) -> None:
    assert check_citations(raw, 5).text == raw


def _clean(checked: CheckedText) -> None:
    text = checked.text
    assert not any("  " in line.strip() for line in text.splitlines()), text
    assert not any(f" {p}" in text for p in ".,;:!?"), text
    assert "[]" not in text and "()" not in text and "【】" not in text, text
    assert text == text.strip()


@pytest.mark.parametrize(("raw", "n", "_t", "_c", "_r"), NORMALISED)
def test_output_is_clean(
    raw: str, n: int, _t: str, _c: tuple[int, ...], _r: tuple[str, ...]
) -> None:
    _clean(check_citations(raw, n))


def test_no_double_spaces_after_removal() -> None:
    checked = check_citations("First  claim [8] and  second [9] claim [1] .", 5)
    assert checked.text == "First claim and second claim [1]."
    assert checked.removed == ("[8]", "[9]")


def test_uncited_sentences_in_lists_and_trailers() -> None:
    text = (
        "Here is what the collection says about it:\n"
        "- TokenSkip prunes unimportant tokens [1]\n"
        "- ReCUT balances accuracy and length\n\n"
        "Sources: 1, 2"
    )
    checked = check_citations(text, 5)
    assert checked.cited == (1, 2)
    # the intro line and the uncited bullet; the trailer carries citations
    assert checked.uncited_sentences == 2


def test_abbreviations_do_not_split_sentences() -> None:
    checked = check_citations("Smith et al. [1] propose it, e.g. for math. It helps [2].", 5)
    assert checked.uncited_sentences == 0


def test_no_citations_at_all() -> None:
    checked = check_citations("Process reward models score each step. They help search.", 5)
    assert checked.cited == () and checked.removed == () and checked.uncited_sentences == 1
    assert checked.text == "Process reward models score each step. They help search."


def test_every_remaining_citation_is_in_range() -> None:
    import re

    raw = "A [1, 12] b (Source 3) c [^7] d 【2】 e (4). Sources: 5, 6\n[Source 40] end."
    checked = check_citations(raw, 5)
    nums = [int(n) for n in re.findall(r"\[(\d+)\]", checked.text)]
    assert nums and all(1 <= n <= 5 for n in nums)
    assert set(nums) == set(checked.cited)
    assert set(checked.removed) == {"[12]", "[7]", "[40]", "[6]"}


@pytest.mark.parametrize(
    "raw",
    [
        "Sources: " + "1" * 40 + "x",
        "Sources: " + "1 " * 60 + "x",
        "(Sources: " + "1, source " * 100,
        "[" + "1,  " * 200 + "x]",
        "\n" + " " * 5000 + "x",
        "a " * 5000 + "(1).",
        "[1]" * 2000,
    ],
)
def test_pathological_input_is_fast(raw: str) -> None:
    import time

    start = time.perf_counter()
    check_citations(raw, 5)
    assert time.perf_counter() - start < 1.0  # no catastrophic regex backtracking
