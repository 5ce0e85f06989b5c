"""What every fine-tuning trainer (sft, reward, dpo) leaves: its model, the loss curve,
metrics.json with the numbers they share (losses, time, what was quarantined or cut, by
reason) beside their own, and the quarantine file, as one atomic folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from danlu.records import Quarantined, quarantine_text, reason_counts
from danlu.train.publish import publish_run

QUARANTINE_FILE = "quarantine.jsonl"


def shared_metrics(history, quarantined: list[Quarantined], truncated: int) -> dict[str, float]:
    metrics = {"train_loss": history.steps[-1]["loss"], "val_loss": history.evals[-1]["val_loss"],
               "train_seconds": history.seconds, "quarantined": float(len(quarantined)),
               "truncated": float(truncated)}
    metrics.update({f"quarantined.{kind}": float(n)
                    for kind, n in reason_counts(quarantined).items()})
    return metrics


def publish(out_dir: Path, save: Callable[[Path], None], history, metrics: dict[str, float],
            quarantined: list[Quarantined], files: dict[str, str] | None = None) -> Path:
    return publish_run(out_dir, save, history, metrics,
                       {QUARANTINE_FILE: quarantine_text(quarantined), **(files or {})})
