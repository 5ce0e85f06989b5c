"""The pretrain stage's entry: token shards in, the base model in outputs/pretrain (registered
as danlu-base) out. In this process, or under torchrun (train.nproc_per_node), whose rank 0
logs the loss curves into this stage's MLflow run."""

from __future__ import annotations

from danlu.config.project import Config
from danlu.pretrain.launch import processes, run_torchrun
from danlu.pretrain.run import heldout_path, pretrain
from danlu.tracking.outcome import StageOutcome
from danlu.tracking.registry import register_stage_model
from danlu.tracking.tracker import Tracker


def run(cfg: Config, tracker: Tracker) -> StageOutcome:
    nproc = processes(cfg.train.nproc_per_node)
    if nproc > 1:
        result = run_torchrun(cfg, nproc, getattr(tracker, "run_id", None))
    else:
        result = pretrain(cfg.model, cfg.train, cfg.out_dir("tokenizer"), cfg.out_dir("pretrain"),
                          seed=cfg.pretrain_seed, tracker=tracker, heldout=heldout_path(cfg))
    tracker.log_artifact(result.loss_path)
    tracker.log_artifact(result.metrics_path)
    tags = {"val_bits_per_byte": f"{result.metrics['val_bits_per_byte']:.4f}",
            "preset": cfg.model.preset}
    registered = register_stage_model(cfg, tracker, result.model_dir, cfg.registry.base_model,
                                      tags)
    return StageOutcome(result.metrics, result.params, registered)
