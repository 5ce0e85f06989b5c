import pytest

from danlu.evaluate.kinds import _cut_at_stop, macro_f1


def test_macro_f1_averages_classes_equally():
    # class 0: tp 2, fp 1, fn 0 -> 0.8; class 1: tp 0, fp 0, fn 1 -> 0
    assert macro_f1([0, 0, 0], [0, 0, 1], 2) == pytest.approx(0.4)
    assert macro_f1([1, 0, 1, 0], [1, 0, 1, 0], 2) == 1.0
    # a class neither predicted nor present does not drag the mean down
    assert macro_f1([0, 1], [0, 1], 3) == 1.0


def test_generation_is_cut_at_the_first_stop_string():
    assert _cut_at_stop(" A dog runs.\nGerman: Ein", ["\n"]) == "A dog runs."
    assert _cut_at_stop("one. two\n\nthree", ["\n\n", "."]) == "one"
    assert _cut_at_stop("  no stop here ", []) == "no stop here"
