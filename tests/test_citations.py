"""Citation checking: normalise what maps to a source, drop what cites nothing."""

from rag.citations import check_citations


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
