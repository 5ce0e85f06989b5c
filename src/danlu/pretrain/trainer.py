"""The training loop shared by pretraining and fine-tuning: AdamW, warmup+cosine, clipping,
bf16 autocast on CUDA, periodic validation, metrics by step to the tracker."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from danlu.pretrain.checkpoint import Checkpointer
from danlu.pretrain.schedule import lr_factor
from danlu.tracking.tracker import NullTracker, Tracker

log = logging.getLogger("danlu.train")

IGNORE_INDEX = -100


@dataclass(frozen=True)
class LoopSettings:
    max_steps: int
    lr: float
    min_lr_ratio: float
    warmup_steps: int
    weight_decay: float
    grad_clip: float
    eval_every: int


@dataclass
class LoopHistory:
    steps: list[dict] = field(default_factory=list)  # one row per step: step, loss, lr, ...
    evals: list[dict] = field(default_factory=list)  # one row per validation: step, val_loss
    seconds: float = 0.0
    tokens: int = 0


def pick_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def set_threads(threads: int) -> None:
    import os

    import torch

    torch.set_num_threads(threads or os.cpu_count() or 1)


def token_loss(model, x, y):
    """Mean cross-entropy of next-token targets y (IGNORE_INDEX excluded) given inputs x."""
    import torch.nn.functional as F

    logits = model(input_ids=x).logits
    return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1),
                           ignore_index=IGNORE_INDEX)


def make_optimizer(model, settings: LoopSettings, device: str):
    """AdamW with weight decay on matrices only (not norms or biases); fused on CUDA."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": settings.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=settings.lr, betas=(0.9, 0.95), eps=1e-8,
                             fused=device == "cuda")


def validation_loss(model, batches: Callable[[], Iterator], device: str) -> float:
    """Token-weighted mean loss over a finite validation iterator."""
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad(), _autocast(device):
        for x, y in batches():
            x, y = x.to(device), y.to(device)
            n = int((y != IGNORE_INDEX).sum())
            if n:
                total += float(token_loss(model, x, y)) * n
                count += n
    model.train()
    return total / max(count, 1)


def _autocast(device: str):
    import contextlib

    import torch

    if device == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train(model, batches: Iterator, settings: LoopSettings, *, device: str,
          val_batches: Callable[[], Iterator] | None = None, tracker: Tracker | None = None,
          prefix: str = "train", progress: Callable[[int, dict], None] | None = None,
          checkpointer: Checkpointer | None = None) -> LoopHistory:
    """Run `settings.max_steps` optimizer steps over `batches` of (x, y) tensors.

    With a checkpointer, the run starts from its latest checkpoint of the same configuration
    (weights, optimizer, RNG, and the loader's position when `batches` has a state_dict) and
    saves one every `checkpointer.every` steps; the losses after a resume are those of an
    uninterrupted run."""
    import torch

    tracker = tracker or NullTracker()
    model.to(device).train()
    opt = make_optimizer(model, settings, device)
    history = LoopHistory()
    loader = batches if hasattr(batches, "state_dict") else None
    first_step = 0
    if checkpointer is not None and (path := checkpointer.latest()) is not None:
        first_step, saved = checkpointer.restore(path, model, opt, loader)
        history = LoopHistory(**saved)
    start = time.perf_counter() - history.seconds

    def evaluate(step: int) -> None:
        if val_batches is None:
            return
        val = validation_loss(model, val_batches, device)
        history.evals.append({"step": step, "val_loss": val})
        tracker.log_metrics({f"{prefix}/val_loss": val}, step=step)
        log.info("%s step %d: val_loss %.4f", prefix, step, val)

    for step in range(first_step, settings.max_steps):
        factor = lr_factor(step, warmup_steps=settings.warmup_steps,
                           max_steps=settings.max_steps, min_lr_ratio=settings.min_lr_ratio)
        for group in opt.param_groups:
            group["lr"] = settings.lr * factor
        x, y = next(batches)
        x, y = x.to(device), y.to(device)
        with _autocast(device):
            loss = token_loss(model, x, y)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise FloatingPointError(f"{prefix}: loss is {loss_value} at step {step}")
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(),
                                              settings.grad_clip or float("inf"))
        opt.step()
        opt.zero_grad(set_to_none=True)
        history.tokens += int((y != IGNORE_INDEX).sum())
        elapsed = time.perf_counter() - start
        row = {"step": step, "loss": loss_value, "lr": settings.lr * factor,
               "grad_norm": float(norm), "tokens_per_s": history.tokens / max(elapsed, 1e-9)}
        history.steps.append(row)
        tracker.log_metrics({f"{prefix}/{k}": v for k, v in row.items() if k != "step"}, step=step)
        if progress:
            progress(step, row)
        if (step + 1) % settings.eval_every == 0 and step + 1 < settings.max_steps:
            evaluate(step + 1)
        if checkpointer is not None and checkpointer.due(step + 1, settings.max_steps):
            history.seconds = time.perf_counter() - start
            checkpointer.save(step + 1, model, opt, loader, history)
    evaluate(settings.max_steps)
    history.seconds = time.perf_counter() - start
    return history
