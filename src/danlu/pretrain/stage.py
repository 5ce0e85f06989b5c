"""The pretrain stage: a Llama-family model trained on the token shards, saved as safetensors
with its tokenizer, loadable by AutoModelForCausalLM.from_pretrained."""

from __future__ import annotations

import csv
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from danlu.atomic import atomic_dir, atomic_write_json
from danlu.config import ModelConfig, TrainConfig
from danlu.errors import ConfigError, DataError
from danlu.model.llama import build_model, count_parameters, llama_config
from danlu.model.presets import get_preset
from danlu.progress import progress_bar
from danlu.pretrain.checkpoint import Checkpointer
from danlu.pretrain.distributed import Dist, barrier, load_model_state, model_state
from danlu.pretrain.samples import generate_sample
from danlu.pretrain.throughput import flops_per_token, mfu, peak_flops
from danlu.pretrain.trainer import (
    IGNORE_INDEX,
    LoopSettings,
    Throughput,
    pick_device,
    set_threads,
    train,
)
from danlu.tokenizer.chat import BOS, END, EOS, PAD
from danlu.tracking.tracker import NullTracker, Tracker

log = logging.getLogger("danlu.pretrain")


@dataclass(frozen=True)
class PretrainResult:
    out_dir: Path
    model_dir: Path
    metrics_path: Path
    loss_path: Path
    metrics: dict[str, float]


def shard_paths(shards_dir: Path, split: str) -> list[Path]:
    paths = sorted(Path(shards_dir).glob(f"{split}-*.bin"))
    if not paths:
        raise DataError(f"{shards_dir}: no {split}-*.bin token shards; run the tokenizer stage")
    return paths


def load_tokenizer(tokenizer_dir: Path, context_length: int):
    from transformers import AutoTokenizer

    if not (Path(tokenizer_dir) / "tokenizer.json").is_file():
        raise DataError(f"{tokenizer_dir}: no tokenizer.json; run the tokenizer stage")
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    tok.model_max_length = context_length
    return tok


def generation_ids(tokenizer) -> dict[str, int | list[int]]:
    """Ids for generation_config: a reply stops at <|end|> (chat) or <|eos|>."""
    bos, eos, pad, end = tokenizer.convert_tokens_to_ids([BOS, EOS, PAD, END])
    return {"bos_token_id": bos, "eos_token_id": [end, eos], "pad_token_id": pad}


def save_model(model, tokenizer, model_dir: Path) -> None:
    """safetensors weights, config, generation config and the tokenizer in one folder."""
    for key, value in generation_ids(tokenizer).items():
        setattr(model.generation_config, key, value)
    model.save_pretrained(str(model_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(model_dir))


def write_curve(path: Path, steps: list[dict], evals: list[dict]) -> None:
    """Loss by step as CSV for `dvc plots` (val_loss only on the steps it was measured)."""
    val = {e["step"]: e["val_loss"] for e in evals}
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["step", "loss", "val_loss", "lr"])
        for row in steps:
            v = val.get(row["step"] + 1, "")
            writer.writerow([row["step"] + 1, f"{row['loss']:.6f}",
                             f"{v:.6f}" if v != "" else "", f"{row['lr']:.6g}"])


def publish_model(out_dir: Path, model, tokenizer, history, metrics: dict[str, float],
                  samples: list[dict] | None = None) -> Path:
    """Write a stage's trained model, its loss curve, metrics and the sample generations made
    during training as one atomic folder."""
    model.to("cpu")
    with atomic_dir(Path(out_dir)) as tmp:
        save_model(model, tokenizer, tmp / "model")
        write_curve(tmp / "loss.csv", history.steps, history.evals)
        atomic_write_json(tmp / "metrics.json", metrics)
        if samples is not None:  # pretraining: always there (an output in dvc.yaml), maybe empty
            lines = "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples)
            (tmp / "samples.jsonl").write_text(lines, encoding="utf-8")
    return Path(out_dir)


def result_from(out_dir: Path) -> PretrainResult:
    """The result of a run that another process made (torchrun's rank 0), from its outputs."""
    out_dir = Path(out_dir)
    metrics_path = out_dir / "metrics.json"
    if not metrics_path.is_file():
        raise DataError(f"{metrics_path}: missing; the pretraining processes wrote no result")
    return PretrainResult(out_dir, out_dir / "model", metrics_path, out_dir / "loss.csv",
                          json.loads(metrics_path.read_text()))


def _checkpointer(out_dir: Path, model_cfg: ModelConfig, train_cfg: TrainConfig, tok_stats: dict,
                  seed: int) -> Checkpointer | None:
    """Checkpoints beside the output (`.pretrain.checkpoints/`), for a run of this model, these
    training settings (not the checkpoint knobs, threads, compilation or sampling) and this
    tokenizer's shards."""
    if train_cfg.checkpoint_every == 0:
        return None
    knobs = {"checkpoint_every", "keep_checkpoints", "resume", "threads", "compile",
             "peak_tflops", "sample_tokens"}
    identity = {"seed": seed, "model": model_cfg.model_dump(),
                "train": train_cfg.model_dump(exclude=knobs), "tokenizer_stats": tok_stats}
    folder = Path(out_dir).with_name(f".{Path(out_dir).name}.checkpoints")
    checkpointer = Checkpointer(folder, train_cfg.checkpoint_every, train_cfg.keep_checkpoints,
                                identity)
    if train_cfg.resume == "never":
        checkpointer.clear()
    return checkpointer


def accumulation_steps(train_cfg: TrainConfig, preset: str, context_length: int,
                       world_size: int) -> int:
    """Micro-batches per optimizer step so that a step holds `batch_tokens` tokens over all
    devices. An explicit batch_tokens must be a multiple of one micro-step's tokens; the
    preset's is rounded to the nearest (at least one)."""
    micro = train_cfg.batch_size * context_length * world_size
    if train_cfg.batch_tokens is None:
        return max(1, round(get_preset(preset).batch_tokens / micro))
    if train_cfg.batch_tokens % micro:
        raise ConfigError(
            f"train.batch_tokens={train_cfg.batch_tokens} is not a multiple of batch_size x "
            f"context_length x devices = {train_cfg.batch_size} x {context_length} x "
            f"{world_size} = {micro}")
    return train_cfg.batch_tokens // micro


def use_compile(train_cfg: TrainConfig, device: str) -> bool:
    return device.startswith("cuda") if train_cfg.compile == "auto" else bool(train_cfg.compile)


def pretrain(model_cfg: ModelConfig, train_cfg: TrainConfig, tokenizer_stage_dir: Path,
             out_dir: Path, *, seed: int, tracker: Tracker | None = None,
             dist: Dist | None = None) -> PretrainResult:
    """Train and publish the model. Under torchrun every rank calls it with its `dist`; rank 0
    tracks and writes the outputs, the others return the same result once they are there."""
    from danlu.tokenizer.loader import TokenLoader

    dist = dist or Dist(device=pick_device())
    tracker = tracker if tracker is not None and dist.is_main else NullTracker()
    set_threads(train_cfg.threads)
    device = dist.device
    tok_dir = Path(tokenizer_stage_dir) / "tokenizer"
    shards = Path(tokenizer_stage_dir) / "shards"
    tokenizer = load_tokenizer(tok_dir, model_cfg.context_length)
    train_paths, val_paths = shard_paths(shards, "train"), shard_paths(shards, "val")
    tok_stats = json.loads((Path(tokenizer_stage_dir) / "stats.json").read_text())
    bytes_per_token = tok_stats["val_bytes"] / max(tok_stats["val_tokens"], 1)

    ids = generation_ids(tokenizer)
    config = llama_config(model_cfg.preset, vocab_size=len(tokenizer),
                          context_length=model_cfg.context_length, bos_id=ids["bos_token_id"],
                          eos_id=ids["eos_token_id"][1], pad_id=ids["pad_token_id"],
                          n_kv_head=model_cfg.n_kv_head, tie_embeddings=model_cfg.tie_embeddings)
    model = build_model(config, seed=seed)
    lr = train_cfg.lr if train_cfg.lr else get_preset(model_cfg.preset).lr
    accumulation = accumulation_steps(train_cfg, model_cfg.preset, model_cfg.context_length,
                                      dist.world_size)
    settings = LoopSettings(max_steps=train_cfg.max_steps, lr=lr,
                            min_lr_ratio=train_cfg.min_lr_ratio,
                            warmup_steps=train_cfg.warmup_steps,
                            weight_decay=train_cfg.weight_decay, grad_clip=train_cfg.grad_clip,
                            eval_every=train_cfg.eval_every, schedule=train_cfg.schedule,
                            decay_fraction=train_cfg.decay_fraction, accumulation=accumulation)
    step_tokens = train_cfg.batch_size * model_cfg.context_length * dist.world_size * accumulation
    n_params = count_parameters(model)
    compiled = use_compile(train_cfg, device)
    throughput = Throughput(flops_per_token(config, model_cfg.context_length),
                            peak_flops(device, train_cfg.peak_tflops))
    tracker.log_params({"preset": model_cfg.preset, "context_length": model_cfg.context_length,
                        "n_params": n_params, "device": device, "vocab_size": len(tokenizer),
                        "world_size": dist.world_size, "accumulation": accumulation,
                        "step_tokens": step_tokens, "compiled": compiled,
                        "flops_per_token": throughput.flops_per_token,
                        "peak_flops": throughput.peak_flops or 0.0,
                        **{f"train.{k}": v for k, v in train_cfg.model_dump().items()}})
    log.info("pretrain: %s preset, %.2fM parameters, %s x %d%s, %d steps of %d tokens "
             "(%d x %d x %d devices x %d accumulation)%s", model_cfg.preset, n_params / 1e6,
             device, dist.world_size, f" ({dist.strategy})" if dist.enabled else "",
             settings.max_steps, step_tokens, train_cfg.batch_size, model_cfg.context_length,
             dist.world_size, accumulation, ", compiled" if compiled else "")

    batches = iter(TokenLoader(train_paths, train_cfg.batch_size, model_cfg.context_length,
                               seed=seed, mode=train_cfg.packing, rank=dist.rank,
                               world_size=dist.world_size))

    def val_batches():
        # BOS targets (a document's start) carry no text bytes: excluding them makes
        # bits per byte exact against the BOS-free val_bytes/val_tokens of the tokenizer stage.
        # Every rank reads the same batches (under FSDP they run the forward together).
        loader = TokenLoader(val_paths, train_cfg.batch_size, model_cfg.context_length,
                             seed=seed, mode="sequential")
        for i, (x, y) in enumerate(loader):
            if i >= train_cfg.eval_batches:
                break
            yield x, y.masked_fill(y == ids["bos_token_id"], IGNORE_INDEX)

    samples: list[dict] = []

    def sample(step: int, module) -> None:
        if train_cfg.sample_tokens:
            text = generate_sample(module, tokenizer, train_cfg.sample_tokens, device, seed, dist)
            samples.append({"step": step, "text": text})
            log.info("pretrain step %d sample: %r", step, text[:200])

    checkpointer = _checkpointer(out_dir, model_cfg, train_cfg, tok_stats, seed)
    with progress_bar(settings.max_steps, "pretrain") as advance:
        history = train(model, batches, settings, device=device, val_batches=val_batches,
                        tracker=tracker, prefix="pretrain",
                        progress=lambda step, row: advance(1, loss=row["loss"]),
                        checkpointer=checkpointer, dist=dist, compile_model=compiled,
                        bytes_per_token=bytes_per_token, throughput=throughput, on_eval=sample)

    val_loss = history.evals[-1]["val_loss"]
    tokens_per_s = history.tokens_per_s
    metrics = {
        "train_loss": history.steps[-1]["loss"],
        "val_loss": val_loss,
        "val_perplexity": math.exp(min(val_loss, 50.0)),
        "val_bits_per_byte": val_loss / math.log(2) / bytes_per_token,
        "tokens_per_s": tokens_per_s,
        "train_seconds": history.seconds,
        "train_tokens": float(history.tokens),
        "n_params": float(n_params),
    }
    if (value := mfu(tokens_per_s, throughput.flops_per_token, throughput.peak_flops,
                     dist.world_size)) is not None:
        metrics["mfu"] = value
    # under FSDP every rank gathers the shards, and rank 0 saves a plain copy of the model
    weights = model_state(model, dist) if dist.sharded else None
    if dist.is_main:
        tracker.log_metrics({f"pretrain/{k}": v for k, v in metrics.items()})
        if weights is not None:
            model = build_model(config, seed=seed)
            load_model_state(model, weights, Dist())
        publish_model(out_dir, model, tokenizer, history, metrics, samples=samples)
        if checkpointer is not None:
            checkpointer.clear()
        log.info("pretrain: val_loss %.4f, %.3f bits/byte, %.0f tokens/s%s",
                 val_loss, metrics["val_bits_per_byte"], tokens_per_s,
                 f", MFU {metrics['mfu']:.1%}" if "mfu" in metrics else "")
    barrier(dist)
    out_dir = Path(out_dir)
    return PretrainResult(out_dir, out_dir / "model", out_dir / "metrics.json",
                          out_dir / "loss.csv", metrics)
