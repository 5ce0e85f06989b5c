"""Evaluation: every task on every model, the champion gate, and the report card, written as
one folder (results.json, metrics.json, rows.jsonl, report.md and its two plots)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from danlu.atomic import atomic_dir
from danlu.config.evaluate import EvaluateConfig
from danlu.evaluate.suite import ModelEntry, flat_metrics, run_suite
from danlu.evaluate.task import Task
from danlu.tracking.tracker import Tracker

log = logging.getLogger("danlu.evaluate")

# Where the tracker files the report and the rows among a run's artifacts.
ARTIFACT_FOLDER = "evaluate"
LOSSES_PNG = "losses.png"
TASKS_PNG = "tasks.png"
OUTPUT_FILES = ("results.json", "metrics.json", "rows.jsonl", "report.md", LOSSES_PNG, TASKS_PNG)


@dataclass(frozen=True)
class EvaluateResult:
    out_dir: Path
    results: dict
    values: dict[str, float]

    def metrics(self) -> dict[str, float]:
        """The flat numeric metrics, as MLflow takes them."""
        return dict(self.values)

    @property
    def report_path(self) -> Path:
        return self.out_dir / "report.md"


def _rows_lines(rows: dict[tuple[str, str], list]) -> str:
    """Every scored row (per item and model), one JSON line each."""
    lines = []
    for (task, label), task_rows in rows.items():
        for row in task_rows:
            lines.append(json.dumps({"task": task, "model": label, **row}, ensure_ascii=False))
    return "".join(line + "\n" for line in lines)


def _samples(rows: dict[tuple[str, str], list], tasks: Sequence[Task], n: int) -> dict:
    """The first n generations of each generation task, per model, for the card."""
    generative = {t.name for t in tasks if t.kind == "generate"}
    return {f"{task} / {label}": task_rows[:n] for (task, label), task_rows in rows.items()
            if task in generative and n}


def evaluate(tasks: Sequence[Task], models: Sequence[ModelEntry], out_dir: Path, *,
             settings: EvaluateConfig, context_length: int, seed: int,
             dirty: dict[str, list[bool]], unigram: Callable | None = None,
             gate: Callable[[dict], list[dict]] | None = None,
             stages: Sequence[dict] = (), headlines: dict[str, list[str]] | None = None,
             curves: dict[str, Path] | None = None,
             tracker: Tracker | None = None, root: Path | None = None) -> EvaluateResult:
    """Score, gate (`gate(results)` -> its decisions, applied in the registry), write out_dir
    whole (a failure leaves the previous folder), and file it with the tracker. `root`: the
    project, whose git commit the card names."""
    from danlu.evaluate.card import environment, render_card
    from danlu.evaluate.plots import plot_losses, plot_tasks

    results, rows = run_suite(tasks, models, context_length=context_length,
                              batch_size=settings.batch_size, seed=seed, dirty=dirty,
                              clean_only=settings.decontaminate.clean_only, unigram=unigram)
    results["gate"] = gate(results) if gate is not None else []
    results["samples"] = _samples(rows, tasks, settings.num_samples)
    values = flat_metrics(results)
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        losses = plot_losses(curves or {}, tmp / LOSSES_PNG)
        bars = plot_tasks(results, tmp / TASKS_PNG)
        card = render_card(results, list(stages), losses.name if losses else None,
                           bars.name if bars else None, environment(root or Path.cwd()),
                           settings.cost_per_hour or None, headlines=headlines)
        (tmp / "report.md").write_text(card, encoding="utf-8")
        (tmp / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False,
                                                     default=str) + "\n", encoding="utf-8")
        (tmp / "metrics.json").write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")
        (tmp / "rows.jsonl").write_text(_rows_lines(rows),
                                        encoding="utf-8")
    if tracker is not None:  # the runner logs the metrics
        for name in OUTPUT_FILES:
            if (out_dir / name).exists():
                tracker.log_artifact(out_dir / name, ARTIFACT_FOLDER)
    return EvaluateResult(out_dir=out_dir, results=results, values=values)
