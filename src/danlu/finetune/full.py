"""Full fine-tuning: every weight of the pretrained model is trained; the model folder is the
result."""

from __future__ import annotations

from pathlib import Path

from danlu.config.finetune import FinetuneConfig
from danlu.model.saved import save_model


def prepare(model, cfg: FinetuneConfig, base_ref: str, tokenizer=None):
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def export(model, tokenizer, folder: Path, base_ref: str, base_dir: Path) -> None:
    """folder/model: the fine-tuned model."""
    save_model(model, tokenizer, folder / "model")
