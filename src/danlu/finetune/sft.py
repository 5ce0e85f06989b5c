"""Supervised fine-tuning of the pretrained model on conversations, loss on assistant tokens
only, by the configured method: full, lora (lora.py) or prompt learning (prompt.py)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from danlu.config.finetune import PROMPT_METHODS, FinetuneConfig
from danlu.finetune import full, lora, prompt, qlora
from danlu.finetune.data import encode_examples, ordered_batches, shuffled_batches, split_examples
from danlu.finetune.formats import read_sft_data
from danlu.finetune.publish import publish, shared_metrics
from danlu.model.saved import load_model
from danlu.progress import progress_bar
from danlu.tracking.tracker import NullTracker, Tracker
from danlu.train.device import pick_device, set_threads
from danlu.train.loop import LoopSettings, train

log = logging.getLogger("danlu.sft")

# imported by name (not importlib), so that the stage's code deps see every method's file
METHOD_MODULES = {"full": full, "lora": lora, "qlora": qlora,
                  **{m: prompt for m in PROMPT_METHODS}}


@dataclass(frozen=True)
class SftResult:
    out_dir: Path
    model_dir: Path
    metrics: dict[str, float]
    params: dict[str, Any] = field(default_factory=dict)  # facts of the run: data sizes, device


def method_module(method: str):
    """The module of a fine-tuning method: prepare(model, cfg, base_ref, tokenizer) -> the
    model to train, export(model, tokenizer, folder, base_ref, base_dir) -> folder/model (+
    adapter), and optionally load(base_dir) -> (model, tokenizer) when it loads the base its
    own way (qlora: in 4 bits)."""
    return METHOD_MODULES[method]


def loop_settings(cfg, lr: float | None = None) -> LoopSettings:
    """The loop's settings from a fine-tuning section; eval_every null = four validations."""
    return LoopSettings(max_steps=cfg.max_steps, lr=lr or cfg.lr, min_lr_ratio=cfg.min_lr_ratio,
                        warmup_steps=cfg.warmup_steps, weight_decay=cfg.weight_decay,
                        grad_clip=cfg.grad_clip,
                        eval_every=cfg.eval_every or max(1, cfg.max_steps // 4))


def trainable_parameters(model) -> tuple[int, int]:
    """(trainable, all) parameter counts."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def sft(cfg: FinetuneConfig, base_model_dir: Path, data_paths: list[Path], out_dir: Path, *,
        seed: int, base_ref: str, threads: int = 0, tracker: Tracker | None = None,
        root: Path | None = None) -> SftResult:
    """Fine-tune the model in `base_model_dir` on the conversations in `data_paths`; write
    out_dir/model (and out_dir/adapter for lora), loss.csv, metrics.json and the quarantine.
    `base_ref`: how the project names the base folder, recorded in peft's adapter config;
    `root`: the project, inputs inside it are named relative to it in the quarantine."""
    import torch

    tracker = tracker or NullTracker()
    set_threads(threads)
    device = pick_device()
    torch.manual_seed(seed)
    method = method_module(cfg.method)
    model, tokenizer = getattr(method, "load", load_model)(base_model_dir)
    max_length = min(cfg.max_length, model.config.max_position_embeddings)
    if cfg.method in PROMPT_METHODS:  # the virtual tokens take room in the context
        max_length = min(max_length, model.config.max_position_embeddings
                         - cfg.prompt.num_virtual_tokens)

    data = read_sft_data(data_paths, root)
    encoded = encode_examples(tokenizer, data.conversations, max_length)
    quarantined = data.quarantined + encoded.quarantined
    train_ex, val_ex = split_examples(encoded.examples, cfg.val_fraction, seed)
    model = method.prepare(model, cfg, base_ref, tokenizer)
    trainable, total = trainable_parameters(model)
    pad_id = tokenizer.pad_token_id
    params = {"records_kept": len(data.conversations), "train_examples": len(train_ex),
              "val_examples": len(val_ex), "device": device, "method": cfg.method,
              "trainable_params": trainable, "formats": ",".join(sorted(data.formats))}
    log.info("sft (%s): %d conversations (%d train, %d val; %d quarantined, %d truncated), "
             "%d steps, %s of %s parameters trained", cfg.method, len(data.conversations),
             len(train_ex), len(val_ex), len(quarantined), encoded.truncated, cfg.max_steps,
             f"{trainable:,}", f"{total:,}")

    batches = shuffled_batches(train_ex, cfg.batch_size, pad_id, seed,
                               packed_capacity=max_length if cfg.packing else None)
    with progress_bar(cfg.max_steps, "sft") as advance:
        history = train(model, batches, loop_settings(cfg, cfg.method_lr), device=device,
                        val_batches=lambda: ordered_batches(val_ex, cfg.batch_size, pad_id),
                        tracker=tracker, prefix="sft",
                        progress=lambda step, row: advance(1, loss=row["loss"]))
    val_loss = history.evals[-1]["val_loss"]
    metrics = {**shared_metrics(history, quarantined, encoded.truncated),
               "val_perplexity": math.exp(min(val_loss, 50.0)),
               "first_val_loss": history.evals[0]["val_loss"],
               "tokens_per_s": history.tokens_per_s, "train_examples": float(len(train_ex)),
               "trainable_params": float(trainable)}
    if cfg.method != "qlora":  # 4-bit weights stay where they are; export reloads the base
        model.to("cpu")
    out_dir = publish(out_dir, lambda tmp: method.export(model, tokenizer, tmp, base_ref,
                                                         base_model_dir),
                      history, metrics, quarantined)
    log.info("sft: val_loss %.4f (assistant tokens)", val_loss)
    return SftResult(out_dir, out_dir / "model", metrics, params)
