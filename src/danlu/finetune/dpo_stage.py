"""The dpo stage's entry: the SFT model, preference pairs and the reward model in, the
preference-tuned chat model in outputs/dpo (registered as danlu-chat, the final chat model)
out, with its win rate against the SFT model."""

from __future__ import annotations

from danlu.config.project import Config
from danlu.finetune.dpo import DUELS_FILE, train_dpo
from danlu.finetune.lineage import model_tags
from danlu.finetune.publish import QUARANTINE_FILE
from danlu.tracking.outcome import StageOutcome
from danlu.tracking.registry import register_stage_model
from danlu.tracking.tracker import Tracker


def run(cfg: Config, tracker: Tracker) -> StageOutcome:
    sft_dir = cfg.out_dir("sft") / "model"
    result = train_dpo(cfg.dpo, sft_dir, cfg.out_dir("reward") / "model",
                       cfg.path_list(cfg.dpo.data), cfg.path(cfg.dpo.win_rate_prompts),
                       cfg.out_dir("dpo"), seed=cfg.seed, threads=cfg.train.threads,
                       tracker=tracker, root=cfg.root)
    for name in ("loss.csv", "metrics.json", QUARANTINE_FILE, DUELS_FILE):
        tracker.log_artifact(result.out_dir / name)
    tags = lambda: {  # noqa: E731 - asked only when registering
        **model_tags(cfg, "dpo", cfg.dpo.data, base=cfg.registry.chat_model, base_dir=sft_dir),
        "method": "dpo", "sft_method": cfg.finetune.method,
        "dpo_win_rate": f"{result.metrics['win_rate']:.4f}"}
    registered = register_stage_model(cfg, tracker, result.model_dir, cfg.registry.chat_model,
                                      tags)
    return StageOutcome(result.metrics, result.params, registered)
