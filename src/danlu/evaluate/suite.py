"""Run every task on every model, one model in memory at a time: the results the report card,
the metrics and the champion gate read."""

from __future__ import annotations

import gc
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from danlu.evaluate import kinds
from danlu.evaluate.task import Task

log = logging.getLogger("danlu.evaluate")

UNIGRAM_LABEL = "unigram baseline"
AGGREGATE = "core"  # mean centered accuracy over the choice and classify tasks (as DCLM's CORE)


@dataclass(frozen=True)
class ModelEntry:
    label: str  # a column of the report: "base", "chat (dpo)", "champion danlu-chat v2"
    role: str  # base, sft, chat, champion-base, champion-chat: the prefix of its MLflow metrics
    folder: Path
    source: str  # where it came from, as the user would name it
    name: str | None = None  # its registered model name and version, when the registry holds it
    version: str | None = None

    @property
    def registered(self) -> str | None:
        return f"{self.name} v{self.version}" if self.version else None


def _score(model, tokenizer, task: Task, items, *, context_length: int, batch_size: int,
           seed: int) -> tuple[dict, list, dict]:
    if task.kind == "generate":
        return kinds.score_generate(model, tokenizer, task, items, seed=seed)
    scorer = {"perplexity": kinds.score_perplexity, "choice": kinds.score_choice,
              "classify": kinds.score_classify}[task.kind]
    metrics, rows = scorer(model, tokenizer, task, items, context_length=context_length,
                           batch_size=batch_size)
    return metrics, rows, {}


def aggregate(task_results: Sequence[dict], label: str) -> dict[str, float]:
    """CORE-style mean of centered accuracy over the tasks that have one, for one model."""
    centered = [t["metrics"][label]["centered"] for t in task_results
                if label in t["metrics"] and "centered" in t["metrics"][label]]
    return {AGGREGATE: sum(centered) / len(centered)} if centered else {}


def run_suite(tasks: Sequence[Task], models: Sequence[ModelEntry], *, context_length: int,
              batch_size: int, seed: int, dirty: dict[str, list[bool]],
              clean_only: bool, unigram: Callable[[Any, list[str]], dict] | None = None,
              ) -> tuple[dict, dict[tuple[str, str], list]]:
    """-> (results as results.json holds them, {(task, model label): rows}).

    `dirty[task]` flags the items that overlap the training data; with `clean_only` they are
    not scored. `unigram(tokenizer, texts)` scores perplexity tasks with the baseline too."""
    import torch

    from danlu.model.saved import load_model
    from danlu.model.stream import context_length as room_for_tokens
    from danlu.train.device import pick_device

    scored = {t.name: [i for i, d in zip(t.items, dirty.get(t.name, [False] * len(t.items)),
                                        strict=True) if not (clean_only and d)] for t in tasks}
    task_results = [{
        "name": t.name, "kind": t.kind, "file": str(t.path), "items": len(t.items),
        "dirty": sum(dirty.get(t.name, [])), "scored": len(scored[t.name]),
        "clean_only": clean_only, "chance": t.chance, "primary": kinds.primary_metric(t),
        "lower_is_better": t.kind == "perplexity", "num_fewshot": t.spec.num_fewshot,
        "metrics": {}, "signatures": {}} for t in tasks]
    all_rows: dict[tuple[str, str], list] = {}
    for entry in models:
        torch.manual_seed(seed)
        model, tokenizer = load_model(entry.folder)
        model.to(pick_device())  # a GPU when there is one; the scores are float32 either way
        # a prompt-learning model's virtual tokens take places in its context
        n_ctx = min(context_length, room_for_tokens(model))
        for task, result in zip(tasks, task_results, strict=True):
            items = scored[task.name]
            if not items:
                continue
            start = time.perf_counter()
            metrics, rows, signatures = _score(model, tokenizer, task, items,
                                               context_length=n_ctx, batch_size=batch_size,
                                               seed=seed)
            result["metrics"][entry.label] = metrics
            result["signatures"].update(signatures)
            all_rows[(task.name, entry.label)] = rows
            # seconds in the log only: the results stay the same bytes run after run
            log.info("%s on %s: %s %.4f (%.1f s)", entry.label, task.name, result["primary"],
                     metrics.get(result["primary"], math.nan), time.perf_counter() - start)
            if unigram is not None and task.kind == "perplexity" and entry.role == "base":
                result["metrics"][UNIGRAM_LABEL] = unigram(tokenizer, [i.context for i in items])
        del model
        gc.collect()
    results = {
        "models": [{"label": m.label, "role": m.role, "source": m.source,
                    "registered": m.registered, "name": m.name, "version": m.version}
                   for m in models],
        "tasks": task_results,
        "aggregate": {m.label: aggregate(task_results, m.label) for m in models},
    }
    return results, all_rows


def model_metric(results: dict, label: str, key: str) -> float:
    """One model's value of `key`: an aggregate ("core") or "<task>.<metric>"; NaN if absent."""
    if key in results["aggregate"].get(label, {}):
        return float(results["aggregate"][label][key])
    for task in results["tasks"]:
        prefix = task["name"] + "."
        if key.startswith(prefix) and label in task["metrics"]:
            return float(task["metrics"][label].get(key[len(prefix):], math.nan))
    return math.nan


def flat_metrics(results: dict) -> dict[str, float]:
    """MLflow metrics: `<role>.<task>.<metric>` and `<role>.core` for every model."""
    roles = {m["label"]: m["role"] for m in results["models"]}
    roles[UNIGRAM_LABEL] = "unigram"
    values: dict[str, float] = {}
    for task in results["tasks"]:
        values[f"{task['name']}.dirty"] = task["dirty"]
        for label, metrics in task["metrics"].items():
            for key, value in metrics.items():
                values[f"{roles[label]}.{task['name']}.{key}"] = float(value)
    for label, agg in results["aggregate"].items():
        for key, value in agg.items():
            values[f"{roles[label]}.{key}"] = float(value)
    return values


def summary_table(results: dict) -> str:
    """A plain-text table: one row per task (its primary metric and chance), a column per model."""
    labels = [m["label"] for m in results["models"]]
    header = ["task", "kind", "metric", "items", "chance", *labels]
    lines = [header]
    for task in results["tasks"]:
        chance = task["chance"]
        values = [task["metrics"].get(label, {}).get(task["primary"]) for label in labels]
        lines.append([task["name"], task["kind"], task["primary"], str(task["scored"]),
                      "" if chance is None else f"{chance:.4f}",
                      *("-" if v is None else f"{v:.4f}" for v in values)])
    for key in sorted({k for agg in results["aggregate"].values() for k in agg}):
        lines.append([key, "", "centered acc", "", "0.0000",
                      *(f"{results['aggregate'][label][key]:.4f}"
                        if key in results["aggregate"].get(label, {}) else "-"
                        for label in labels)])
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                     .rstrip() for row in lines)
