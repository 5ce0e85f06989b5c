"""Checkpoints: a training run killed with SIGKILL and started again continues from its last
checkpoint and gives the same loss at every later step as a run that was never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from danlu.train.checkpoint import Checkpointer
from danlu.train.loop import LoopSettings, train

SETTINGS = LoopSettings(max_steps=12, lr=3e-3, min_lr_ratio=0.1, warmup_steps=2,
                        weight_decay=0.1, grad_clip=1.0, eval_every=100)
IDENTITY = {"run": "test"}

SCRIPT = """
import sys, time
from pathlib import Path
import torch
from transformers import AutoModelForCausalLM
from danlu.train.checkpoint import Checkpointer
from danlu.train.loop import LoopSettings, train
from danlu.tokens.loader import TokenLoader

torch.set_num_threads(1)
model_dir, shards, folder = sys.argv[1], sorted(Path(sys.argv[2]).glob("*.bin")), sys.argv[3]
model = AutoModelForCausalLM.from_pretrained(model_dir)
loader = TokenLoader(shards, 4, 32, seed=1, mode="random")
settings = LoopSettings(max_steps=12, lr=3e-3, min_lr_ratio=0.1, warmup_steps=2,
                        weight_decay=0.1, grad_clip=1.0, eval_every=100)
train(model, loader, settings, device="cpu", prefix="pretrain",
      progress=lambda step, row: time.sleep(0.5),
      checkpointer=Checkpointer(Path(folder), 3, 2, {"run": "test"}))
"""


@pytest.fixture
def shards(tmp_path: Path, tiny_model_dir: Path) -> Path:
    from transformers import AutoConfig

    from danlu.tokens.shards import write_shards

    vocab = AutoConfig.from_pretrained(str(tiny_model_dir)).vocab_size
    rng = np.random.default_rng(0)
    docs = (rng.integers(5, vocab, size=int(rng.integers(20, 200))) for _ in range(200))
    write_shards(tmp_path / "shards", "train", docs, vocab, bos_id=1, max_tokens=10_000)
    return tmp_path / "shards"


def fresh(tiny_model_dir: Path, shards: Path):
    from transformers import AutoModelForCausalLM

    from danlu.tokens.loader import TokenLoader

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    return model, TokenLoader(sorted(shards.glob("*.bin")), 4, 32, seed=1, mode="random")


def test_sigkilled_run_resumes_with_the_same_losses(tiny_model_dir: Path, shards: Path,
                                                    tmp_path: Path) -> None:
    torch.set_num_threads(1)
    folder = tmp_path / "checkpoints"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tiny_model_dir), str(shards),
                             str(folder)], env=env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None and not (folder / "step-000006").is_dir():
        time.sleep(0.05)
    assert proc.poll() is None, "training ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = sorted(p.name for p in folder.iterdir() if p.name.startswith("step-"))
    assert saved[-1] in ("step-000006", "step-000009") and len(saved) <= 2  # keep=2

    model, loader = fresh(tiny_model_dir, shards)
    resumed = train(model, loader, SETTINGS, device="cpu", prefix="pretrain",
                    checkpointer=Checkpointer(folder, 3, 2, IDENTITY))
    model, loader = fresh(tiny_model_dir, shards)
    straight = train(model, loader, SETTINGS, device="cpu", prefix="pretrain")
    assert [r["step"] for r in resumed.steps] == list(range(12))
    assert [r["loss"] for r in resumed.steps] == [r["loss"] for r in straight.steps]


def test_a_checkpoint_of_another_configuration_is_not_resumed(tiny_model_dir: Path, shards: Path,
                                                              tmp_path: Path) -> None:
    torch.set_num_threads(1)
    model, loader = fresh(tiny_model_dir, shards)
    first = train(model, loader, SETTINGS, device="cpu",
                  checkpointer=Checkpointer(tmp_path / "c", 4, 5, IDENTITY))
    saved = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert saved == ["step-000004", "step-000008"]  # none at the last step: the model is published
    state = json.loads((tmp_path / "c" / "step-000008" / "state.json").read_text())
    assert state["step"] == 8 and state["loaders"][0]["step"] == 8
    model, loader = fresh(tiny_model_dir, shards)
    other = train(model, loader, SETTINGS, device="cpu",
                  checkpointer=Checkpointer(tmp_path / "c", 4, 5, {"run": "other"}))
    assert [r["step"] for r in other.steps] == list(range(12))  # started from step 0
    assert [r["loss"] for r in other.steps] == [r["loss"] for r in first.steps]
