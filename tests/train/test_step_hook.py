from pathlib import Path

import pytest

from danlu.train.loop import LoopSettings, train
from danlu.train.step_hook import step_hook, steps_done


@pytest.fixture
def model(tiny_model_dir: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))


def test_the_loop_tells_the_hook_each_step_done(model):
    import torch

    def batches():
        g = torch.Generator().manual_seed(0)
        while True:
            x = torch.randint(5, 50, (2, 16), generator=g)
            yield x, x

    heard = []
    settings = LoopSettings(max_steps=4, lr=1e-3, min_lr_ratio=0.1, warmup_steps=1,
                            weight_decay=0.0, grad_clip=1.0, eval_every=10)
    with step_hook(lambda *args: heard.append(args)):
        train(model, batches(), settings, device="cpu", prefix="sft")
    assert heard == [("sft", 1, 4), ("sft", 2, 4), ("sft", 3, 4), ("sft", 4, 4)]


def test_without_a_hook_nobody_hears_and_the_hook_ends_with_its_block():
    heard = []
    steps_done("pretrain", 1, 2)
    with step_hook(lambda *args: heard.append(args)):
        steps_done("pretrain", 1, 2)
    steps_done("pretrain", 2, 2)
    assert heard == [("pretrain", 1, 2)]
