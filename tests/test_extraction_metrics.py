"""The extraction benchmark's scoring: snippet matching and bag-of-words token F1."""

from __future__ import annotations

import pytest

from danlu.extraction_metrics import macro_micro, normalise_ws, snippet_counts, token_overlap


def test_snippets_match_across_line_breaks_only_when_normalised():
    text = "Die GEMA dreht\nvöllig   am Zeiger!\n\nImpressum"
    with_, without = ["Die GEMA dreht völlig am Zeiger!", "nicht da"], ["Impressum", "31. Mai"]
    norm = snippet_counts(text, with_, without)
    assert (norm.tp, norm.fn, norm.fp) == (1, 1, 1)
    exact = snippet_counts(text, with_, without, normalise=False)
    assert (exact.tp, exact.fn, exact.fp) == (0, 2, 1)
    assert normalise_ws(" a\u00a0\tb\n") == "a b"


def test_no_output_misses_every_with_snippet_and_leaks_nothing():
    c = snippet_counts(None, ["a", "b"], ["c"])
    assert (c.tp, c.fn, c.fp) == (0, 2, 0)
    assert c.prf() == (0.0, 0.0, 0.0)


def test_token_f1_is_a_multiset_overlap_of_lowercase_words():
    # pred: the x2, cat, sat, menu (5); gold: the x2, cat, sat, on, mat (6); overlap 4.
    t = token_overlap("The cat sat. Menu the", "the cat sat on the mat")
    assert (t.overlap, t.n_pred, t.n_gold) == (4, 5, 6)
    p, r, f1 = t.prf()
    assert (p, r) == pytest.approx((4 / 5, 4 / 6))
    assert f1 == pytest.approx(2 * 0.8 * (4 / 6) / (0.8 + 4 / 6))


def test_macro_averages_pages_and_micro_pools_counts():
    pages = [token_overlap("a b", "a b"), token_overlap("", "c d e f")]
    (p, r, f1), (mp, mr, mf1) = macro_micro(pages)
    assert (p, r, f1) == pytest.approx((0.5, 0.5, 0.5))
    assert (mp, mr) == pytest.approx((1.0, 2 / 6))
