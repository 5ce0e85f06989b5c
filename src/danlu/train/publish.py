"""What a trainer leaves behind: the model folder, its loss curve (CSV, a DVC plot), its
metrics and, for pretraining, the samples generated on the way, written as one atomic folder."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

from danlu.atomic import atomic_dir, atomic_write_json
from danlu.model.saved import save_model


def write_curve(path: Path, steps: list[dict], evals: list[dict]) -> None:
    """Loss by step as CSV for `dvc plots` (val_loss only on the steps it was measured)."""
    by_step = {e["step"]: e for e in evals}
    # pretraining with train.heldout: the held-out text's curve too (danlu ablate plots it)
    extra = [k for k in EXTRA_CURVE_COLUMNS if any(k in e for e in evals)]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["step", "loss", "val_loss", "lr", *extra])
        for row in steps:
            e = by_step.get(row["step"] + 1, {})
            writer.writerow([row["step"] + 1, f"{row['loss']:.6f}", _cell(e.get("val_loss")),
                             f"{row['lr']:.6g}", *(_cell(e.get(k)) for k in extra)])


EXTRA_CURVE_COLUMNS = ("heldout_bits_per_byte",)


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def publish_run(out_dir: Path, save: Callable[[Path], None], history,
                metrics: dict[str, float], files: dict[str, str] | None = None) -> Path:
    """Write a trainer's outputs as one atomic folder: what `save(folder)` writes (its model),
    the loss curve, metrics.json and any further text files by name."""
    with atomic_dir(Path(out_dir)) as tmp:
        save(tmp)
        write_curve(tmp / "loss.csv", history.steps, history.evals)
        for name, text in (files or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
        atomic_write_json(tmp / "metrics.json", metrics)
    return Path(out_dir)


def publish_model(out_dir: Path, model, tokenizer, history, metrics: dict[str, float],
                  samples: list[dict] | None = None) -> Path:
    """Write a stage's trained model, its loss curve, metrics and the sample generations made
    during training as one atomic folder."""
    model.to("cpu")
    # pretraining: samples.jsonl is always there (an output in dvc.yaml), maybe empty
    files = None if samples is None else {"samples.jsonl": jsonl_text(samples)}
    return publish_run(out_dir, lambda tmp: save_model(model, tokenizer, tmp / "model"),
                       history, metrics, files)


def jsonl_text(rows: list[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
