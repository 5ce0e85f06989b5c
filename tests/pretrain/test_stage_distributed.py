"""The pretrain stage end to end on a small tokenizer-stage folder: gradient accumulation, WSD,
validation bits per byte, samples and MFU; and under torchrun (2 CPU processes, gloo), DDP and
FSDP2 give the losses of one process that accumulates the same global batch."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from danlu.config import load_config

SMALL = ["model.context_length=32", "train.batch_size=4", "train.max_steps=6",
         "train.warmup_steps=1", "train.eval_every=3", "train.eval_batches=2",
         "train.checkpoint_every=0", "train.threads=1", "train.compile=false",
         "tracking.register_models=false"]


@pytest.fixture(scope="module")
def project(tokenizer_stage_project) -> Path:
    return tokenizer_stage_project("project")


def config(project: Path, *overrides: str):
    return load_config(project / "params.yaml", [*SMALL, *overrides])


def losses(out: Path) -> list[float]:
    with open(out / "loss.csv") as fh:
        return [float(row["loss"]) for row in csv.DictReader(fh)]


def run_here(cfg, out_name: str, tracker=None):
    from danlu.pretrain.run import heldout_path, pretrain

    return pretrain(cfg.model, cfg.train, cfg.path("outputs/tokenizer"),
                    cfg.path(f"outputs/{out_name}"), seed=cfg.pretrain_seed, tracker=tracker,
                    heldout=heldout_path(cfg))


def test_accumulation_wsd_bits_per_byte_samples_and_mfu(project: Path) -> None:
    from danlu.tracking.tracker import NullTracker

    cfg = config(project, "train.batch_tokens=256", "train.schedule=wsd", "train.decay_fraction=0.5",
                 "train.sample_tokens=6", "train.peak_tflops=0.5")
    tracker = NullTracker()
    result = run_here(cfg, "single", tracker)
    assert result.params["accumulation"] == 2 and result.params["step_tokens"] == 256
    by_step = {}
    for step, metrics in tracker.metrics:
        if step is not None:
            by_step.setdefault(step, {}).update(metrics)
    assert sorted(k for k in by_step if "pretrain/loss" in by_step[k]) == list(range(6))
    assert {"pretrain/mfu", "pretrain/grad_norm", "pretrain/tokens_per_s"} <= set(by_step[5])
    per_token = result.params["flops_per_token"]
    row = by_step[5]
    assert row["pretrain/mfu"] == pytest.approx(row["pretrain/tokens_per_s"] * per_token / 0.5e12)
    assert by_step[3]["pretrain/val_bits_per_byte"] > 0
    lrs = [by_step[s]["pretrain/lr"] for s in range(6)]
    assert lrs[1] == lrs[2] and lrs[5] < lrs[4] < lrs[3] < lrs[2]  # held, then decayed
    samples = [json.loads(line) for line in (result.out_dir / "samples.jsonl").read_text().splitlines()]
    assert [s["step"] for s in samples] == [3, 6] and all(isinstance(s["text"], str) for s in samples)
    assert result.metrics["mfu"] > 0 and result.metrics["train_tokens"] == 6 * 256
    # train.heldout: the same text scored in bits per byte at each validation
    assert by_step[3]["pretrain/heldout_bits_per_byte"] > by_step[6]["pretrain/heldout_bits_per_byte"] > 0
    with open(result.loss_path) as fh:
        curve = {int(r["step"]): r["heldout_bits_per_byte"] for r in csv.DictReader(fh)}
    assert [s for s, v in curve.items() if v] == [3, 6]
    assert float(curve[6]) == pytest.approx(result.metrics["heldout_bits_per_byte"], rel=1e-5)


def test_train_seed_overrides_the_seed_for_pretraining_only(project: Path) -> None:
    a = run_here(config(project, "train.seed=7", "seed=1"), "seed-a")
    b = run_here(config(project, "train.seed=7", "seed=2"), "seed-b")
    c = run_here(config(project, "train.seed=8", "seed=1"), "seed-c")
    assert losses(a.out_dir) == losses(b.out_dir) != losses(c.out_dir)
    assert config(project).pretrain_seed == config(project).seed  # null: the top-level seed


def test_a_bad_heldout_file_is_named(project: Path, tmp_path: Path) -> None:
    from danlu.errors import DataError
    from danlu.pretrain.run import read_heldout

    with pytest.raises(DataError, match="nothing.jsonl: train.heldout file not found"):
        read_heldout(tmp_path / "nothing.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"body": "no text"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: a held-out record needs a string `text`"):
        read_heldout(bad)
    plain = tmp_path / "plain.txt"
    plain.write_text("One text, whole.\n")
    assert read_heldout(plain) == ["One text, whole.\n"]


def test_batch_tokens_that_do_not_divide_are_named(project: Path) -> None:
    from danlu.errors import ConfigError

    with pytest.raises(ConfigError, match=r"train.batch_tokens=300 .* 4 x 32 x 1 = 128"):
        run_here(config(project, "train.batch_tokens=300"), "bad")


@pytest.mark.slow
@pytest.mark.parametrize(("strategy", "compiled"),
                         [("ddp", False), ("fsdp", False), ("ddp", True), ("fsdp", True)])
def test_torchrun_matches_one_process_accumulating_the_same_batch(project: Path, strategy: str,
                                                                  compiled: bool) -> None:
    """Compiled too (each rank's inductor C++ graphs; DDP's bucketed graph splitting, FSDP2's
    hooks): the GPU route's shape, run on the CPU."""
    from transformers import AutoModelForCausalLM

    from danlu.pretrain.launch import run_torchrun

    one = run_here(config(project, "train.batch_tokens=256"), f"one-{strategy}")
    cfg = config(project, "train.batch_tokens=256", "train.nproc_per_node=2",
                 f"train.distributed={strategy}", "train.sample_tokens=4",
                 f"train.compile={str(compiled).lower()}")
    shutil.rmtree(cfg.path("outputs/pretrain"), ignore_errors=True)
    two = run_torchrun(cfg, 2, run_id=None, timeout=300)
    assert two.metrics["train_tokens"] == one.metrics["train_tokens"] == 6 * 256
    assert two.params["world_size"] == 2 and two.params["accumulation"] == 1  # from rank 0
    assert np.allclose(losses(two.out_dir), losses(one.out_dir), rtol=1e-4)
    assert two.metrics["val_loss"] == pytest.approx(one.metrics["val_loss"], rel=1e-4)
    # rank 0 saved the whole model (gathered from the shards under FSDP): it loads anywhere
    model = AutoModelForCausalLM.from_pretrained(str(two.model_dir))
    assert sum(p.numel() for p in model.parameters()) == one.metrics["n_params"]


def test_a_command_past_its_timeout_is_stopped_and_named(tmp_path: Path) -> None:
    import sys
    import time

    from danlu.errors import DanluError
    from danlu.pretrain.launch import relay

    began = time.monotonic()
    script = "import time\nprint('started', flush=True)\ntime.sleep(60)"
    with pytest.raises(DanluError, match=r"ran past 1 s and was stopped;.*\nstarted"):
        relay([sys.executable, "-c", script], {}, tmp_path, timeout=1)
    assert time.monotonic() - began < 30


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, from /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


@pytest.mark.slow
def test_fsdp_run_killed_mid_training_resumes_with_the_same_losses(project: Path, caplog) -> None:
    """SIGKILL to torchrun after its first checkpoint; the restarted run gathers nothing twice
    and ends with the losses of one uninterrupted process."""
    import os
    import signal
    import subprocess
    import tempfile
    import time

    from danlu.pretrain.launch import run_torchrun, torchrun_command

    steps = ["train.max_steps=40", "train.eval_every=100"]
    one = run_here(config(project, "train.batch_tokens=256", *steps), "one-resume")
    cfg = config(project, "train.batch_tokens=256", "train.nproc_per_node=2",
                 "train.distributed=fsdp", "train.checkpoint_every=5", *steps)
    out = cfg.path("outputs/pretrain")
    checkpoints = out.with_name(".pretrain.checkpoints")
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(checkpoints, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        config_file = Path(tmp) / "config.json"
        config_file.write_text(json.dumps(cfg.model_dump(mode="json")))
        command = torchrun_command(config_file, cfg.root, 2, Path(tmp) / "result.json")
        proc = subprocess.Popen(command, cwd=cfg.root,
                                env={**os.environ, "OMP_NUM_THREADS": "1"},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and not (
                checkpoints.is_dir() and any(checkpoints.glob("step-*"))):
            time.sleep(0.02)
        assert proc.poll() is None, "training ended before it could be killed"
        for pid in [*descendants(proc.pid), proc.pid]:  # the ranks first: torchrun's own
            os.kill(pid, signal.SIGKILL)               # children live in their own sessions
        proc.wait()
    saved = sorted(p.name for p in checkpoints.glob("step-*"))
    assert saved and not out.exists()
    with caplog.at_level("INFO", logger="danlu.pretrain"):
        resumed = run_torchrun(cfg, 2, run_id=None, timeout=300)
    assert f"resumed from {checkpoints / saved[-1]}" in caplog.text
    assert np.allclose(losses(resumed.out_dir), losses(one.out_dir), rtol=1e-4)
    assert len(losses(resumed.out_dir)) == 40
