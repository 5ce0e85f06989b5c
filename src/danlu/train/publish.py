"""What a trainer leaves behind: the model folder, its loss curve (CSV, a DVC plot), its
metrics and, for pretraining, the samples generated on the way, written as one atomic folder."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from danlu.atomic import atomic_dir, atomic_write_json
from danlu.model.saved import save_model


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
