import pytest

from danlu.train.schedule import lr_factor


def test_warmup_then_cosine_to_the_floor():
    f = [lr_factor(s, warmup_steps=10, max_steps=110, min_lr_ratio=0.1) for s in range(110)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert f[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[10:], f[11:]))
    assert f[60] == pytest.approx(0.55)
    assert lr_factor(110, warmup_steps=10, max_steps=110, min_lr_ratio=0.1) == pytest.approx(0.1)


def test_no_warmup():
    assert lr_factor(0, warmup_steps=0, max_steps=10, min_lr_ratio=0.0) == pytest.approx(1.0)


def test_wsd_holds_the_peak_then_decays_linearly_to_the_floor():
    f = [lr_factor(s, warmup_steps=10, max_steps=100, min_lr_ratio=0.1, schedule="wsd",
                   decay_fraction=0.2) for s in range(100)]
    assert f[9] == pytest.approx(1.0) and set(f[10:80]) == {1.0}
    assert f[80] == pytest.approx(1 - 0.9 / 20) and f[99] == pytest.approx(0.1)
    steps = [b - a for a, b in zip(f[80:], f[81:])]
    assert all(s == pytest.approx(-0.9 / 20) for s in steps)


def test_wsd_decay_never_starts_inside_the_warmup():
    f = [lr_factor(s, warmup_steps=8, max_steps=10, min_lr_ratio=0.0, schedule="wsd",
                   decay_fraction=0.5) for s in range(10)]
    assert f[7] == pytest.approx(1.0) and f[8] == pytest.approx(0.5) and f[9] == pytest.approx(0.0)


def test_unknown_schedule_is_named():
    with pytest.raises(ValueError, match="'linear'"):
        lr_factor(5, warmup_steps=0, max_steps=10, min_lr_ratio=0.1, schedule="linear")
