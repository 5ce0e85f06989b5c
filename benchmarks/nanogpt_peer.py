"""The real nanoGPT (karpathy/nanoGPT), run side by side with danlu: its own train.py and its own
data preparation, on tinyshakespeare, with its README's CPU recipe. Nothing of nanoGPT is kept
in this repository: point `--nanogpt DIR` (or NANOGPT_DIR) at a checkout of it.

    git clone https://github.com/karpathy/nanoGPT /opt/nanoGPT   # commit 3adf61e measured
    NANOGPT_DIR=/opt/nanoGPT .venv/bin/python benchmarks/pretrain_bench.py --shape nanogpt

A run happens in a scratch folder that links nanoGPT's scripts (train.py reads configurator.py
and data/ from its working folder) beside data/shakespeare_char, which nanoGPT's prepare.py
fills from the input text. Timings are nanoGPT's own "iter N: loss L, time T ms" lines.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ITER_LINE = re.compile(r"^iter (\d+): loss ([0-9.]+), time ([0-9.]+)ms")
# README's CPU recipe (baselines.md), minus what only shapes the output
RECIPE = ["config/train_shakespeare_char.py", "--device=cpu", "--compile=False",
          "--eval_iters=20", "--log_interval=1", "--block_size=64", "--batch_size=12",
          "--n_layer=4", "--n_head=4", "--n_embd=128", "--dropout=0.0"]
LINKED = ("train.py", "model.py", "configurator.py", "config")


@dataclass(frozen=True)
class PeerRun:
    iter_ms: list[float]  # per iteration, as nanoGPT prints them
    losses: list[float]
    wall_seconds: float

    def median_ms(self, warmup: int) -> float:
        return statistics.median(self.iter_ms[warmup:])


def nanogpt_dir(given: str | None) -> Path | None:
    """The nanoGPT checkout to run, from --nanogpt or NANOGPT_DIR; None when neither is set."""
    path = given or os.environ.get("NANOGPT_DIR")
    if not path:
        return None
    folder = Path(path).expanduser().resolve()
    missing = [name for name in (*LINKED, "data/shakespeare_char/prepare.py")
               if not (folder / name).exists()]
    if missing:
        raise SystemExit(f"{folder}: not a nanoGPT checkout (missing {', '.join(missing)})")
    return folder


def prepare(checkout: Path, work: Path, text: Path) -> Path:
    """A run folder: nanoGPT's scripts linked, its shakespeare_char data made by its prepare.py
    from `text` (which it would otherwise download)."""
    work.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link = work / name
        if not link.exists():
            link.symlink_to(checkout / name)
    data = work / "data" / "shakespeare_char"
    data.mkdir(parents=True, exist_ok=True)
    if not (data / "train.bin").is_file():
        shutil.copy(text, data / "input.txt")
        shutil.copy(checkout / "data" / "shakespeare_char" / "prepare.py", data / "prepare.py")
        subprocess.run([sys.executable, "prepare.py"], cwd=data, check=True,
                       capture_output=True, timeout=300)
    return work


def run(work: Path, iters: int, threads: int | None = None, timeout: float = 1800) -> PeerRun:
    """nanoGPT's train.py for `iters` iterations (no evaluation after the first, no checkpoint)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    command = [sys.executable, "train.py", *RECIPE, f"--max_iters={iters}",
               f"--lr_decay_iters={iters}", f"--eval_interval={iters + 1000}",
               f"--out_dir={work / 'out'}"]
    began = time.perf_counter()
    proc = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True,
                          timeout=timeout)
    wall = time.perf_counter() - began
    if proc.returncode != 0:
        raise RuntimeError(f"nanoGPT failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    ms, losses = [], []
    for line in proc.stdout.splitlines():
        if match := ITER_LINE.match(line):
            losses.append(float(match.group(2)))
            ms.append(float(match.group(3)))
    if not ms:
        raise RuntimeError(f"nanoGPT printed no iteration lines:\n{proc.stdout[-2000:]}")
    return PeerRun(ms, losses, wall)
