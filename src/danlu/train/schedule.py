"""Learning-rate schedules, as a multiplier of the peak: linear warmup, then either cosine
decay to min_lr_ratio, or warmup-stable-decay (WSD: the peak held, then a linear decay to
min_lr_ratio over the last decay_fraction of the steps, as in MiniCPM and nanochat)."""

from __future__ import annotations

import math


def lr_factor(step: int, *, warmup_steps: int, max_steps: int, min_lr_ratio: float,
              schedule: str = "cosine", decay_fraction: float = 0.2) -> float:
    """Multiplier of the peak learning rate at `step` (0-based)."""
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "wsd":
        decay_steps = max(1, round(decay_fraction * max_steps))
        decay_start = max(warmup_steps, max_steps - decay_steps)
        if step < decay_start:
            return 1.0
        progress = min(1.0, (step - decay_start + 1) / max(1, max_steps - decay_start))
        return 1.0 - (1 - min_lr_ratio) * progress
    if schedule != "cosine":
        raise ValueError(f"unknown learning-rate schedule {schedule!r}: cosine or wsd")
    span = max(1, max_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
