"""The training loop shared by pretraining and fine-tuning: AdamW, warmup + cosine or WSD,
gradient accumulation, clipping, bf16 autocast on CUDA, torch.compile, DDP/FSDP2 under
torchrun, periodic validation (loss, bits per byte), metrics by step (loss, lr, grad norm,
tokens/s, MFU) to the tracker."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from danlu.train.checkpoint import Checkpointer
from danlu.train.device import autocast
from danlu.train.distributed import Dist, mean_over_ranks, no_sync, parallelize
from danlu.train.objective import Objective, TokenObjective, to_device
from danlu.train.schedule import lr_factor
from danlu.train.step_hook import steps_done
from danlu.train.throughput import Throughput, mfu
from danlu.tracking.tracker import NullTracker, Tracker

log = logging.getLogger("danlu.train")


@dataclass(frozen=True)
class LoopSettings:
    max_steps: int
    lr: float
    min_lr_ratio: float
    warmup_steps: int
    weight_decay: float
    grad_clip: float
    eval_every: int
    schedule: str = "cosine"
    decay_fraction: float = 0.2
    accumulation: int = 1  # micro-batches per optimizer step on each device


@dataclass
class LoopHistory:
    steps: list[dict] = field(default_factory=list)  # one row per step: step, loss, lr, ...
    evals: list[dict] = field(default_factory=list)  # one row per validation: step, val_loss
    seconds: float = 0.0
    tokens: int = 0  # over all devices
    train_seconds: float = 0.0  # optimizer steps only (no validation, no checkpoints)
    # the steps after each (re)start's first one, which compiles and warms up: throughput
    timed_tokens: int = 0
    timed_seconds: float = 0.0

    @property
    def tokens_per_s(self) -> float:
        """Training throughput, over all devices; the first step of each (re)start (compile,
        warm-up: seconds where a step takes milliseconds on a GPU) counts only for a run of
        one step."""
        if self.timed_seconds:
            return self.timed_tokens / self.timed_seconds
        return self.tokens / max(self.train_seconds, 1e-9)


def make_optimizer(model, settings: LoopSettings, device: str):
    """AdamW with weight decay on matrices only (not norms or biases); fused on CUDA."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": settings.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=settings.lr, betas=(0.9, 0.95), eps=1e-8,
                             fused=device.startswith("cuda"))


def validation_loss(model, batches: Callable[[], Iterator], device: str,
                    loss_of: Callable | None = None) -> float:
    """Token-weighted mean loss over a finite validation iterator (`loss_of`: the loss
    function of `model`, e.g. its compiled one; default token_loss)."""
    return validate(model, batches, device, TokenObjective(loss_of))["val_loss"]


def validate(model, batches: Callable[[], Iterator], device: str,
             objective: Objective) -> dict[str, float]:
    """{"val_loss", "val_<metric>"...}: the objective's loss and metrics over a finite
    validation iterator, each averaged with the batches' weights (tokens, or pairs)."""
    import torch

    model.eval()
    sums: dict[str, float] = {}
    count = 0
    with torch.no_grad(), autocast(device):
        for batch in batches():
            n = objective.weight(batch)
            if not n:
                continue
            loss, metrics = objective.loss(model, to_device(batch, device))
            for name, value in {"loss": loss, **metrics}.items():
                sums[name] = sums.get(name, 0.0) + float(value) * n
            count += n
    model.train()
    return {f"val_{name}": total / max(count, 1) for name, total in sums.items()} or \
        {"val_loss": 0.0}


# Longer than most (its docstring and the step bookkeeping): the loop reads top to bottom as
# nanoGPT's does; the step itself and validation are functions of their own.
def train(model, batches: Iterator, settings: LoopSettings, *, device: str,
          val_batches: Callable[[], Iterator] | None = None, tracker: Tracker | None = None,
          prefix: str = "train", progress: Callable[[int, dict], None] | None = None,
          checkpointer: Checkpointer | None = None, dist: Dist | None = None,
          compile_model: bool = False, bytes_per_token: float | None = None,
          throughput: Throughput | None = None,
          on_eval: Callable[[int, object], dict | None] | None = None,
          objective: Objective | None = None) -> LoopHistory:
    """Run `settings.max_steps` optimizer steps over `batches` of (x, y) tensors, each step
    `settings.accumulation` micro-batches on every device.

    With a checkpointer, the run starts from its latest checkpoint of the same configuration
    (weights, optimizer, RNG, and the loader's position when `batches` has a state_dict) and
    saves one every `checkpointer.every` steps; the losses after a resume are those of an
    uninterrupted run. Under torchrun (`dist`), the model is wrapped in DDP or FSDP2 here and
    only rank 0 tracks; `model` stays the plain module (sharded in place under FSDP).
    `objective` says what a batch's loss is (default: next-token cross-entropy over (x, y)
    batches, compiled with the model when `compile_model`)."""
    dist = dist or Dist(device=device)
    tracker = tracker if dist.is_main and tracker is not None else NullTracker()
    model.to(device).train()
    wrapped = parallelize(model, dist)
    objective = objective or TokenObjective.for_model(wrapped, compile_model)
    opt = make_optimizer(wrapped, settings, device)
    history = LoopHistory()
    loader = batches if hasattr(batches, "state_dict") else None
    first_step = 0
    if checkpointer is not None and (path := checkpointer.latest()) is not None:
        first_step, saved = checkpointer.restore(path, wrapped, opt, loader, dist)
        history = LoopHistory(**saved)
    start = time.perf_counter() - history.seconds

    def evaluate(step: int) -> None:
        if val_batches is None:
            return
        row = _validate(model, val_batches, device, objective, step, bytes_per_token)
        if on_eval is not None:  # its metrics (if any) join the validation's row
            row.update(on_eval(step, model) or {})
        history.evals.append(row)
        tracker.log_metrics({f"{prefix}/{k}": v for k, v in row.items() if k != "step"},
                            step=step)
        log.info("%s step %d: val_loss %.4f%s%s", prefix, step, row["val_loss"],
                 f", {row['val_bits_per_byte']:.3f} bits/byte" if bytes_per_token else "",
                 f", held-out {row['heldout_bits_per_byte']:.3f} bits/byte"
                 if "heldout_bits_per_byte" in row else "")

    for step in range(first_step, settings.max_steps):
        began = time.perf_counter()
        lr = settings.lr * lr_factor(
            step, warmup_steps=settings.warmup_steps, max_steps=settings.max_steps,
            min_lr_ratio=settings.min_lr_ratio, schedule=settings.schedule,
            decay_fraction=settings.decay_fraction)
        loss_value, norm_value, tokens, metrics = _optimizer_step(
            wrapped, opt, objective, batches, lr, settings, device, dist)
        if not math.isfinite(loss_value):
            raise FloatingPointError(f"{prefix}: loss is {loss_value} at step {step}")
        step_seconds = time.perf_counter() - began
        history.tokens += tokens
        history.train_seconds += step_seconds
        if step > first_step or settings.max_steps - first_step == 1:
            history.timed_tokens += tokens
            history.timed_seconds += step_seconds
        row = {"step": step, "loss": loss_value, "lr": lr, "grad_norm": norm_value,
               "step_ms": step_seconds * 1000, "tokens_per_s": history.tokens_per_s,
               **metrics}
        if throughput is not None and throughput.peak_flops:
            row["mfu"] = mfu(row["tokens_per_s"], throughput.flops_per_token,
                             throughput.peak_flops, dist.world_size)
        history.steps.append(row)
        tracker.log_metrics({f"{prefix}/{k}": v for k, v in row.items() if k != "step"}, step=step)
        if progress and dist.is_main:
            progress(step, row)
        if dist.is_main:
            steps_done(prefix, step + 1, settings.max_steps)
        if (step + 1) % settings.eval_every == 0 and step + 1 < settings.max_steps:
            evaluate(step + 1)
        if checkpointer is not None and checkpointer.due(step + 1, settings.max_steps):
            history.seconds = time.perf_counter() - start
            checkpointer.save(step + 1, wrapped, opt, loader, history, dist)
    evaluate(settings.max_steps)
    history.seconds = time.perf_counter() - start
    return history


def _optimizer_step(wrapped, opt, objective: Objective, batches: Iterator, lr: float,
                    settings: LoopSettings, device: str, dist: Dist
                    ) -> tuple[float, float, int, dict[str, float]]:
    """One optimizer step over `settings.accumulation` micro-batches; -> (loss averaged over
    the ranks, gradient norm, target tokens over all ranks, the objective's metrics of this
    rank). Loss and metrics stay on the device until the one host sync of the step."""
    import torch

    for group in opt.param_groups:
        group["lr"] = lr
    sums: dict[str, object] = {}
    tokens = 0
    for micro in range(settings.accumulation):
        batch = next(batches)
        tokens += objective.tokens(batch)  # counted where the loader made them
        batch = to_device(batch, device)
        with no_sync(wrapped, dist, sync=micro == settings.accumulation - 1), autocast(device):
            loss, metrics = objective.loss(wrapped, batch)
            loss = loss / settings.accumulation
            loss.backward()
        for name, value in {"loss": loss.detach() * settings.accumulation, **metrics}.items():
            value = value.detach().float() / settings.accumulation
            sums[name] = value if name not in sums else sums[name] + value
    norm = torch.nn.utils.clip_grad_norm_(wrapped.parameters(), settings.grad_clip or float("inf"))
    norm = norm.full_tensor() if hasattr(norm, "full_tensor") else norm  # FSDP2: a DTensor
    names = list(sums)
    values = torch.stack([*(sums[n] for n in names), norm.float()]).tolist()
    norm_value = values.pop()
    local = dict(zip(names, values))
    loss_value = mean_over_ranks(local.pop("loss"), dist)
    if math.isfinite(loss_value):
        opt.step()
    opt.zero_grad(set_to_none=True)
    return loss_value, norm_value, tokens * dist.world_size, local


def _validate(model, val_batches: Callable[[], Iterator], device: str, objective: Objective,
              step: int, bytes_per_token: float | None) -> dict:
    row = {"step": step, **validate(model, val_batches, device, objective)}
    if bytes_per_token:
        row["val_bits_per_byte"] = row["val_loss"] / math.log(2) / bytes_per_token
    return row
