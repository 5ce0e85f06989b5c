import pytest

from danlu.pretrain.schedule import lr_factor


def test_warmup_then_cosine_to_the_floor():
    f = [lr_factor(s, warmup_steps=10, max_steps=110, min_lr_ratio=0.1) for s in range(110)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert f[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[10:], f[11:]))
    assert f[60] == pytest.approx(0.55)
    assert lr_factor(110, warmup_steps=10, max_steps=110, min_lr_ratio=0.1) == pytest.approx(0.1)


def test_no_warmup():
    assert lr_factor(0, warmup_steps=0, max_steps=10, min_lr_ratio=0.0) == pytest.approx(1.0)
