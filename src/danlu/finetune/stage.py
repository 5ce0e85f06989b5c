"""The sft stage's entry: the pretrained model and conversations in, the chat model in
outputs/sft (registered as danlu-chat) out."""

from __future__ import annotations

from danlu.config.project import Config
from danlu.finetune.sft import sft
from danlu.tracking.outcome import StageOutcome
from danlu.tracking.registry import register_stage_model
from danlu.tracking.tracker import Tracker


def run(cfg: Config, tracker: Tracker) -> StageOutcome:
    result = sft(cfg.sft, cfg.out_dir("pretrain") / "model", cfg.path(cfg.sft.data),
                 cfg.out_dir("sft"), seed=cfg.seed, threads=cfg.train.threads, tracker=tracker)
    tracker.log_artifact(result.out_dir / "loss.csv")
    tracker.log_artifact(result.out_dir / "metrics.json")
    tags = {"sft_val_loss": f"{result.metrics['val_loss']:.4f}", "method": "full"}
    registered = register_stage_model(cfg, tracker, result.model_dir, cfg.registry.chat_model,
                                      tags)
    return StageOutcome(result.metrics, result.params, registered)
