"""The sft stage's entry: the pretrained model and conversations in, the chat model in
outputs/sft (registered as danlu-chat; LoRA's adapter logged beside it) out."""

from __future__ import annotations

from danlu.config.project import Config
from danlu.finetune.lineage import model_tags, project_ref
from danlu.finetune.lora import ADAPTER_DIR
from danlu.finetune.publish import QUARANTINE_FILE
from danlu.finetune.sft import sft
from danlu.tracking.outcome import StageOutcome
from danlu.tracking.registry import register_stage_model
from danlu.tracking.tracker import Tracker


def run(cfg: Config, tracker: Tracker) -> StageOutcome:
    base_dir = cfg.out_dir("pretrain") / "model"
    result = sft(cfg.finetune, base_dir, cfg.path_list(cfg.finetune.data), cfg.out_dir("sft"),
                 seed=cfg.seed, base_ref=project_ref(cfg, base_dir), threads=cfg.train.threads,
                 tracker=tracker, root=cfg.root)
    for name in ("loss.csv", "metrics.json", QUARANTINE_FILE):
        tracker.log_artifact(result.out_dir / name)
    adapter = result.out_dir / ADAPTER_DIR
    if adapter.is_dir():
        tracker.log_artifact(adapter, ADAPTER_DIR)
    tags = lambda: {  # noqa: E731 - asked only when registering
        **model_tags(cfg, "sft", cfg.finetune.data, base=cfg.registry.base_model,
                     base_dir=base_dir),
        "method": cfg.finetune.method, "sft_val_loss": f"{result.metrics['val_loss']:.4f}"}
    registered = register_stage_model(cfg, tracker, result.model_dir, cfg.registry.chat_model,
                                      tags)
    return StageOutcome(result.metrics, result.params, registered)
