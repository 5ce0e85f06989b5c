"""How a pretraining run is shaped by params: the loop's settings, gradient accumulation to the
batch in tokens, compilation, and the checkpoints of this very run."""

from __future__ import annotations

from pathlib import Path

from danlu.config.pretrain import ModelConfig, TrainConfig
from danlu.errors import ConfigError
from danlu.model.presets import get_preset
from danlu.train.checkpoint import Checkpointer
from danlu.train.loop import LoopSettings


def loop_settings(model_cfg: ModelConfig, train_cfg: TrainConfig, world_size: int) -> LoopSettings:
    """The loop's settings; a null lr or batch_tokens takes the preset's."""
    lr = train_cfg.lr if train_cfg.lr else get_preset(model_cfg.preset).lr
    accumulation = accumulation_steps(train_cfg, model_cfg.preset, model_cfg.context_length,
                                      world_size)
    return LoopSettings(max_steps=train_cfg.max_steps, lr=lr,
                        min_lr_ratio=train_cfg.min_lr_ratio, warmup_steps=train_cfg.warmup_steps,
                        weight_decay=train_cfg.weight_decay, grad_clip=train_cfg.grad_clip,
                        eval_every=train_cfg.eval_every, schedule=train_cfg.schedule,
                        decay_fraction=train_cfg.decay_fraction, accumulation=accumulation)


def checkpointer_for(out_dir: Path, model_cfg: ModelConfig, train_cfg: TrainConfig, tok_stats: dict,
                  seed: int) -> Checkpointer | None:
    """Checkpoints beside the output (`.pretrain.checkpoints/`), for a run of this model, these
    training settings (not the checkpoint knobs, threads, compilation or sampling) and this
    tokenizer's shards."""
    if train_cfg.checkpoint_every == 0:
        return None
    knobs = {"checkpoint_every", "keep_checkpoints", "resume", "threads", "compile",
             "compile_cpu_min_steps",
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
    """train.compile resolved for this run (see compile_decision)."""
    return compile_decision(train_cfg.compile, device, train_cfg.max_steps,
                            train_cfg.compile_cpu_min_steps)


def compile_decision(choice: bool | str, device: str, max_steps: int, cpu_min_steps: int) -> bool:
    """true or false as given; auto compiles where it pays: always on CUDA, and on the CPU for
    runs of at least `cpu_min_steps` steps. On 2 CPU cores compiling the tiny model costs about
    35 s the first time (inductor's C++ kernels, then cached on disk: about 8 s) and saves a
    quarter to a third of each step (docs/LOG.md, 2026-12-02): the sample's 450 steps stay
    eager, nanoGPT's 2,000-step recipe compiles."""
    if choice != "auto":
        return bool(choice)
    return device.startswith("cuda") or max_steps >= cpu_min_steps
