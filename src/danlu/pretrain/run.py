"""Pretraining: a Llama-family model trained on the token shards, published as safetensors with
its tokenizer (loadable by AutoModelForCausalLM.from_pretrained), its loss curve, metrics and
the samples it wrote at each validation. One function for one process and for every torchrun
rank (`dist`): rank 0 alone tracks and writes."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from danlu.config.pretrain import ModelConfig, TrainConfig
from danlu.model.generate import sample_text
from danlu.model.llama import build_model, count_parameters, llama_config
from danlu.model.saved import generation_ids, load_tokenizer
from danlu.model.scoring import language_model_metrics
from danlu.pretrain.plan import checkpointer_for, loop_settings, use_compile
from danlu.progress import progress_bar
from danlu.tokens.shards import shard_paths
from danlu.tracking.tracker import NullTracker, Tracker
from danlu.train.device import pick_device, set_threads
from danlu.train.distributed import Dist, barrier, load_model_state, model_state
from danlu.train.losses import IGNORE_INDEX
from danlu.train.loop import LoopHistory, train
from danlu.train.publish import publish_model
from danlu.train.throughput import Throughput, flops_per_token, mfu, peak_flops

log = logging.getLogger("danlu.pretrain")


@dataclass(frozen=True)
class PretrainResult:
    out_dir: Path
    model_dir: Path
    metrics_path: Path
    loss_path: Path
    metrics: dict[str, float]
    params: dict[str, Any] = field(default_factory=dict)  # facts of the run: device, sizes...

    def to_json(self) -> str:
        return json.dumps({"out_dir": str(self.out_dir), "metrics": self.metrics,
                           "params": self.params})

    @classmethod
    def from_json(cls, text: str) -> "PretrainResult":
        data = json.loads(text)
        out = Path(data["out_dir"])
        return cls(out, out / "model", out / "metrics.json", out / "loss.csv", data["metrics"],
                   data["params"])


@dataclass(frozen=True)
class _Inputs:
    """What the tokenizer stage left: the tokenizer, shard paths and bytes per token."""
    tokenizer: Any
    train_paths: list[Path]
    val_paths: list[Path]
    stats: dict

    @classmethod
    def read(cls, stage_dir: Path, context_length: int) -> "_Inputs":
        stage_dir = Path(stage_dir)
        tokenizer = load_tokenizer(stage_dir / "tokenizer", context_length)
        stats = json.loads((stage_dir / "stats.json").read_text())
        return cls(tokenizer, shard_paths(stage_dir / "shards", "train"),
                   shard_paths(stage_dir / "shards", "val"), stats)

    @property
    def bytes_per_token(self) -> float:
        return self.stats["val_bytes"] / max(self.stats["val_tokens"], 1)


def model_config(model_cfg: ModelConfig, tokenizer):
    ids = generation_ids(tokenizer)
    return llama_config(model_cfg.preset, vocab_size=len(tokenizer),
                        context_length=model_cfg.context_length, bos_id=ids["bos_token_id"],
                        eos_id=ids["eos_token_id"][1], pad_id=ids["pad_token_id"],
                        n_kv_head=model_cfg.n_kv_head, tie_embeddings=model_cfg.tie_embeddings)


def heldout_path(cfg) -> Path | None:
    """train.heldout resolved against the project root; None when it is null."""
    return None if cfg.train.heldout is None else cfg.path(cfg.train.heldout)


def read_heldout(path: Path) -> list[str]:
    """The passages of a held-out file: JSONL records' `text`, or a plain text file whole."""
    from danlu.errors import DataError
    from danlu.jsonl import jsonl_records

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: train.heldout file not found")
    if path.suffix != ".jsonl":
        texts = [path.read_text(encoding="utf-8")]
    else:
        texts = []
        for number, record in jsonl_records(path):
            if not isinstance(record.get("text"), str):
                raise DataError(f"{path}:{number}: a held-out record needs a string `text` field")
            texts.append(record["text"])
    if not any(t.strip() for t in texts):
        raise DataError(f"{path}: train.heldout holds no text")
    return texts


def pretrain(model_cfg: ModelConfig, train_cfg: TrainConfig, tokenizer_stage_dir: Path,
             out_dir: Path, *, seed: int, tracker: Tracker | None = None,
             dist: Dist | None = None, heldout: Path | None = None) -> PretrainResult:
    """Train and publish the model. Under torchrun every rank calls it with its `dist`; rank 0
    tracks and writes the outputs, the others return the same result once they are there.
    `heldout`: text scored in bits per byte at every validation (heldout_bits_per_byte)."""
    from danlu.tokens.loader import TokenLoader

    dist = dist or Dist(device=pick_device())
    tracker = tracker if tracker is not None and dist.is_main else NullTracker()
    set_threads(train_cfg.threads)
    inputs = _Inputs.read(tokenizer_stage_dir, model_cfg.context_length)
    config = model_config(model_cfg, inputs.tokenizer)
    model = build_model(config, seed=seed)
    settings = loop_settings(model_cfg, train_cfg, dist.world_size)
    compiled = use_compile(train_cfg, dist.device)
    throughput = Throughput(flops_per_token(config, model_cfg.context_length),
                            peak_flops(dist.device, train_cfg.peak_tflops))
    params = _run_facts(model_cfg, train_cfg, dist, settings.accumulation, compiled, throughput,
                        count_parameters(model), len(inputs.tokenizer))
    log.info("pretrain: %s preset, %.2fM parameters, %s x %d%s, %d steps of %d tokens "
             "(%d x %d x %d devices x %d accumulation)%s", model_cfg.preset,
             params["n_params"] / 1e6, dist.device, dist.world_size,
             f" ({dist.strategy})" if dist.enabled else "", settings.max_steps,
             params["step_tokens"], train_cfg.batch_size, model_cfg.context_length,
             dist.world_size, settings.accumulation, ", compiled" if compiled else "")

    batches = iter(TokenLoader(inputs.train_paths, train_cfg.batch_size, model_cfg.context_length,
                               seed=seed, mode=train_cfg.packing, rank=dist.rank,
                               world_size=dist.world_size))
    samples: list[dict] = []
    heldout_texts = read_heldout(heldout) if heldout is not None else None

    def on_eval(step: int, module) -> dict[str, float]:
        if train_cfg.sample_tokens:
            text = sample_text(module, inputs.tokenizer, train_cfg.sample_tokens, dist.device,
                               seed, dist)
            samples.append({"step": step, "text": text})
            log.info("pretrain step %d sample: %r", step, text[:200])
        if heldout_texts is None:
            return {}
        scored = language_model_metrics(module, inputs.tokenizer, heldout_texts,
                                        context_length=model_cfg.context_length,
                                        batch_size=train_cfg.batch_size)
        module.train()
        return {"heldout_bits_per_byte": scored["bits_per_byte"]}

    checkpointer = checkpointer_for(out_dir, model_cfg, train_cfg, inputs.stats, seed)
    with progress_bar(settings.max_steps, "pretrain") as advance:
        history = train(model, batches, settings, device=dist.device,
                        val_batches=lambda: _val_batches(inputs, train_cfg, model_cfg, seed),
                        tracker=tracker, prefix="pretrain",
                        progress=lambda step, row: advance(1, loss=row["loss"]),
                        checkpointer=checkpointer, dist=dist, compile_model=compiled,
                        bytes_per_token=inputs.bytes_per_token, throughput=throughput,
                        on_eval=on_eval)
    metrics = _metrics(history, inputs.bytes_per_token, params["n_params"], throughput, dist)
    # under FSDP every rank gathers the shards, and rank 0 saves a plain copy of the model
    weights = model_state(model, dist) if dist.sharded else None
    if dist.is_main:
        if weights is not None:
            model = build_model(config, seed=seed)
            load_model_state(model, weights, Dist())
        publish_model(out_dir, model, inputs.tokenizer, history, metrics, samples=samples)
        if checkpointer is not None:
            checkpointer.clear()
        log.info("pretrain: val_loss %.4f, %.3f bits/byte, %.0f tokens/s%s",
                 metrics["val_loss"], metrics["val_bits_per_byte"], metrics["tokens_per_s"],
                 f", MFU {metrics['mfu']:.1%}" if "mfu" in metrics else "")
    barrier(dist)
    out_dir = Path(out_dir)
    return PretrainResult(out_dir, out_dir / "model", out_dir / "metrics.json",
                          out_dir / "loss.csv", metrics, params)


def _val_batches(inputs: _Inputs, train_cfg: TrainConfig, model_cfg: ModelConfig, seed: int):
    """The first eval_batches of the validation shards, the same on every rank (under FSDP they
    run the forward together). BOS targets (a document's start) carry no text bytes: left out,
    bits per byte is exact against the BOS-free val_bytes/val_tokens of the tokenizer stage."""
    from danlu.tokens.loader import TokenLoader

    bos = generation_ids(inputs.tokenizer)["bos_token_id"]
    loader = TokenLoader(inputs.val_paths, train_cfg.batch_size, model_cfg.context_length,
                         seed=seed, mode="sequential")
    for i, (x, y) in enumerate(loader):
        if i >= train_cfg.eval_batches:
            break
        yield x, y.masked_fill(y == bos, IGNORE_INDEX)


def _run_facts(model_cfg: ModelConfig, train_cfg: TrainConfig, dist: Dist, accumulation: int,
               compiled: bool, throughput: Throughput, n_params: int, vocab_size: int) -> dict:
    """What the run was, beyond params.yaml: logged as the stage run's params."""
    step_tokens = train_cfg.batch_size * model_cfg.context_length * dist.world_size * accumulation
    return {"n_params": n_params, "device": dist.device, "vocab_size": vocab_size,
            "world_size": dist.world_size, "accumulation": accumulation,
            "step_tokens": step_tokens, "compiled": compiled,
            "flops_per_token": throughput.flops_per_token,
            "peak_flops": throughput.peak_flops or 0.0}


def _metrics(history: LoopHistory, bytes_per_token: float, n_params: int,
             throughput: Throughput, dist: Dist) -> dict[str, float]:
    val_loss = history.evals[-1]["val_loss"]
    heldout = {k: history.evals[-1][k] for k in ("heldout_bits_per_byte",)
               if k in history.evals[-1]}
    metrics = {**heldout,
        "train_loss": history.steps[-1]["loss"],
        "val_loss": val_loss,
        "val_perplexity": math.exp(min(val_loss, 50.0)),
        "val_bits_per_byte": val_loss / math.log(2) / bytes_per_token,
        "tokens_per_s": history.tokens_per_s,
        "train_seconds": history.seconds,
        "train_tokens": float(history.tokens),
        "n_params": float(n_params),
    }
    if (value := mfu(history.tokens_per_s, throughput.flops_per_token, throughput.peak_flops,
                     dist.world_size)) is not None:
        metrics["mfu"] = value
    return metrics
