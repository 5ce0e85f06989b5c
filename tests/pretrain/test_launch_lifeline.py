"""Crash handling under torchrun: `kill -9` of the process that launched it (the stage) stops
torchrun and both ranks (torchrun gets SIGTERM and stops its ranks); `kill -9` of torchrun
itself stops the ranks (each watches its torchrun)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from process_tree import descendants, seconds_until_gone, wait_for

from danlu import lifeline

SMALL = ["model.context_length=32", "train.batch_size=4", "train.max_steps=100000",
         "train.warmup_steps=1", "train.eval_every=100000", "train.checkpoint_every=0",
         "train.threads=1", "train.compile=false", "tracking.register_models=false",
         "train.nproc_per_node=2", "train.distributed=ddp"]

STAGE = """
import sys
from pathlib import Path
from danlu.config import load_config
from danlu.pretrain.launch import run_torchrun
root = Path(sys.argv[1])
run_torchrun(load_config(root / "params.yaml", sys.argv[2:]), 2, run_id=None)
"""


@pytest.fixture(scope="module")
def project(tokenizer_stage_project) -> Path:
    return tokenizer_stage_project("lifeline")


def is_rank(proc: psutil.Process) -> bool:
    command = " ".join(proc.cmdline())
    return "danlu.pretrain.launch" in command and "torch.distributed.run" not in command


@pytest.mark.skipif(lifeline._PRCTL is None, reason="torchrun's death signal is Linux-only")
@pytest.mark.parametrize("killed", ["stage", "torchrun"])
def test_kill_9_leaves_no_torchrun_or_rank_behind(project: Path, killed: str) -> None:
    stage = subprocess.Popen([sys.executable, "-c", STAGE, str(project), *SMALL],
                             env={**os.environ, "OMP_NUM_THREADS": "1"},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: sum(map(is_rank, descendants(stage.pid))) == 2, 120, "two ranks")
        ranks = [p for p in descendants(stage.pid) if is_rank(p)]
        # training: the ranks have used some CPU (imports, process group, steps)
        wait_for(lambda: all(sum(p.cpu_times()[:2]) > 5 for p in ranks), 120, "busy ranks")
        family = descendants(stage.pid)
        (torchrun,) = [p for p in family if "torch.distributed.run" in " ".join(p.cmdline())]
        assert stage.poll() is None
    except BaseException:
        for proc in descendants(stage.pid):
            proc.kill()
        stage.kill()
        raise
    if killed == "stage":
        stage.send_signal(signal.SIGKILL)
        stage.wait()
    else:
        torchrun.send_signal(signal.SIGKILL)
        family.remove(torchrun)
    try:
        seconds = seconds_until_gone(family, 20)
    finally:
        stage.kill()
        stage.wait()
    print(f"kill -9 of {killed}: {len(family)} processes gone {seconds:.2f} s after")
