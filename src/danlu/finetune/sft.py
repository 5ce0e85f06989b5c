"""Full supervised fine-tuning of the pretrained model on conversations (loss on replies only)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

from danlu.config import SftConfig
from danlu.errors import DataError
from danlu.finetune.data import (encode_examples, ordered_batches, read_conversations,
                                 shuffled_batches, split_examples)
from danlu.pretrain.stage import publish_model
from danlu.pretrain.trainer import LoopSettings, pick_device, set_threads, train
from danlu.progress import progress_bar
from danlu.tracking.tracker import NullTracker, Tracker

log = logging.getLogger("danlu.sft")


@dataclass(frozen=True)
class SftResult:
    out_dir: Path
    model_dir: Path
    metrics: dict[str, float]


def sft(cfg: SftConfig, base_model_dir: Path, data_path: Path, out_dir: Path, *, seed: int,
        threads: int = 0, tracker: Tracker | None = None) -> SftResult:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tracker = tracker or NullTracker()
    set_threads(threads)
    device = pick_device()
    base_model_dir = Path(base_model_dir)
    if not (base_model_dir / "config.json").is_file():
        raise DataError(f"{base_model_dir}: no pretrained model; run the pretrain stage")
    tokenizer = AutoTokenizer.from_pretrained(str(base_model_dir))
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(base_model_dir), dtype=torch.float32)
    context = model.config.max_position_embeddings
    max_length = min(cfg.max_length, context)

    conversations = read_conversations(data_path)
    examples = encode_examples(tokenizer, conversations, max_length)
    train_ex, val_ex = split_examples(examples, cfg.val_fraction)
    pad_id = tokenizer.pad_token_id
    settings = LoopSettings(max_steps=cfg.max_steps, lr=cfg.lr, min_lr_ratio=0.1,
                            warmup_steps=cfg.warmup_steps, weight_decay=0.0, grad_clip=1.0,
                            eval_every=max(1, cfg.max_steps // 4))
    tracker.log_params({**{f"sft.{k}": v for k, v in cfg.model_dump().items()},
                        "conversations": len(conversations), "train_examples": len(train_ex),
                        "val_examples": len(val_ex), "device": device})
    log.info("sft: %d conversations (%d train, %d val), %d steps",
             len(conversations), len(train_ex), len(val_ex), cfg.max_steps)

    batches = shuffled_batches(train_ex, cfg.batch_size, pad_id, seed)
    with progress_bar(cfg.max_steps, "sft") as advance:
        history = train(model, batches, settings, device=device,
                        val_batches=lambda: ordered_batches(val_ex, cfg.batch_size, pad_id),
                        tracker=tracker, prefix="sft",
                        progress=lambda step, row: advance(1, loss=row["loss"]))
    val_loss = history.evals[-1]["val_loss"]
    first_val = history.evals[0]["val_loss"] if len(history.evals) > 1 else val_loss
    metrics = {"train_loss": history.steps[-1]["loss"], "val_loss": val_loss,
               "val_perplexity": math.exp(min(val_loss, 50.0)), "first_val_loss": first_val,
               "train_seconds": history.seconds, "train_examples": float(len(train_ex))}
    tracker.log_metrics({f"sft/{k}": v for k, v in metrics.items()})
    publish_model(out_dir, model, tokenizer, history, metrics)
    log.info("sft: val_loss %.4f (assistant tokens)", val_loss)
    out_dir = Path(out_dir)
    return SftResult(out_dir, out_dir / "model", metrics)
