"""The reward stage's entry: preference pairs and the SFT (or pretrained) model in, the
reward model in outputs/reward (registered as danlu-reward) out."""

from __future__ import annotations

from danlu.config.project import Config
from danlu.finetune.lineage import model_tags
from danlu.finetune.reward import train_reward
from danlu.finetune.publish import QUARANTINE_FILE
from danlu.tracking.outcome import StageOutcome
from danlu.tracking.registry import register_stage_model
from danlu.tracking.tracker import Tracker


def run(cfg: Config, tracker: Tracker) -> StageOutcome:
    base_stage = cfg.reward.base
    base_dir = cfg.out_dir(base_stage) / "model"
    result = train_reward(cfg.reward, base_dir, cfg.path_list(cfg.reward.data),
                          cfg.out_dir("reward"), seed=cfg.seed, threads=cfg.train.threads,
                          tracker=tracker, root=cfg.root)
    for name in ("loss.csv", "metrics.json", QUARANTINE_FILE):
        tracker.log_artifact(result.out_dir / name)
    base_name = cfg.registry.chat_model if base_stage == "sft" else cfg.registry.base_model
    tags = lambda: {  # noqa: E731 - asked only when registering
        **model_tags(cfg, "reward", cfg.reward.data, base=base_name, base_dir=base_dir),
        "reward_val_accuracy": f"{result.metrics['val_accuracy']:.4f}"}
    registered = register_stage_model(cfg, tracker, result.model_dir, cfg.registry.reward_model,
                                      tags, task="text-classification")
    return StageOutcome(result.metrics, result.params, registered)
