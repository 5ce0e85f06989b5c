"""Full supervised fine-tuning of the pretrained model on conversations (loss on replies only)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from danlu.config.finetune import SftConfig
from danlu.finetune.data import (encode_examples, ordered_batches, read_conversations,
                                 shuffled_batches, split_examples)
from danlu.model.saved import load_model
from danlu.progress import progress_bar
from danlu.tracking.tracker import NullTracker, Tracker
from danlu.train.device import pick_device, set_threads
from danlu.train.loop import LoopSettings, train
from danlu.train.publish import publish_model

log = logging.getLogger("danlu.sft")


@dataclass(frozen=True)
class SftResult:
    out_dir: Path
    model_dir: Path
    metrics: dict[str, float]
    params: dict[str, Any] = field(default_factory=dict)  # facts of the run: data sizes, device


def loop_settings(cfg: SftConfig) -> LoopSettings:
    """The loop's settings from params; eval_every null = four validations over the run."""
    return LoopSettings(max_steps=cfg.max_steps, lr=cfg.lr, min_lr_ratio=cfg.min_lr_ratio,
                        warmup_steps=cfg.warmup_steps, weight_decay=cfg.weight_decay,
                        grad_clip=cfg.grad_clip,
                        eval_every=cfg.eval_every or max(1, cfg.max_steps // 4))


def sft(cfg: SftConfig, base_model_dir: Path, data_path: Path, out_dir: Path, *, seed: int,
        threads: int = 0, tracker: Tracker | None = None) -> SftResult:
    import torch

    tracker = tracker or NullTracker()
    set_threads(threads)
    device = pick_device()
    torch.manual_seed(seed)
    model, tokenizer = load_model(base_model_dir)
    max_length = min(cfg.max_length, model.config.max_position_embeddings)

    conversations = read_conversations(data_path)
    examples = encode_examples(tokenizer, conversations, max_length)
    train_ex, val_ex = split_examples(examples, cfg.val_fraction, seed)
    pad_id = tokenizer.pad_token_id
    params = {"conversations": len(conversations), "train_examples": len(train_ex),
              "val_examples": len(val_ex), "device": device}
    log.info("sft: %d conversations (%d train, %d val), %d steps",
             len(conversations), len(train_ex), len(val_ex), cfg.max_steps)

    batches = shuffled_batches(train_ex, cfg.batch_size, pad_id, seed)
    with progress_bar(cfg.max_steps, "sft") as advance:
        history = train(model, batches, loop_settings(cfg), device=device,
                        val_batches=lambda: ordered_batches(val_ex, cfg.batch_size, pad_id),
                        tracker=tracker, prefix="sft",
                        progress=lambda step, row: advance(1, loss=row["loss"]))
    val_loss = history.evals[-1]["val_loss"]
    first_val = history.evals[0]["val_loss"] if len(history.evals) > 1 else val_loss
    metrics = {"train_loss": history.steps[-1]["loss"], "val_loss": val_loss,
               "val_perplexity": math.exp(min(val_loss, 50.0)), "first_val_loss": first_val,
               "train_seconds": history.seconds, "train_examples": float(len(train_ex))}
    publish_model(out_dir, model, tokenizer, history, metrics)
    log.info("sft: val_loss %.4f (assistant tokens)", val_loss)
    out_dir = Path(out_dir)
    return SftResult(out_dir, out_dir / "model", metrics, params)
