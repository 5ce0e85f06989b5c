"""How params shape a pretraining run: where compilation pays."""

import pytest

from danlu.pretrain.plan import compile_decision


@pytest.mark.parametrize("choice,device,steps,expected", [
    ("auto", "cuda", 10, True),          # a GPU step is milliseconds: always worth it
    ("auto", "cuda:3", 10, True),
    ("auto", "cpu", 450, False),         # the sample's run: compiling would cost more
    ("auto", "cpu", 2000, True),         # nanoGPT's recipe length: it pays
    ("auto", "cpu", 1000, True),
    (True, "cpu", 10, True),
    (False, "cuda", 10**6, False),
])
def test_auto_compiles_where_it_pays(choice, device, steps, expected):
    assert compile_decision(choice, device, steps, cpu_min_steps=1000) is expected
