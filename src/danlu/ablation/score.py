"""What one ablation run measured: its base model on the evaluate stage's tasks (the scorers
of `danlu score`), the held-out bits per byte along training, and what its data was (documents
kept, tokens available, tokens seen). The scores are kept beside the model, keyed by the model's
fingerprint and the task files, so a reused run is not scored again."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from pathlib import Path

from danlu.ablation.plan import RunPlan
from danlu.atomic import atomic_write_json
from danlu.config.load import load_config
from danlu.errors import DataError
from danlu.pipeline import last_record

log = logging.getLogger("danlu.ablation")

SCORES_DIR = "ablation-scores"  # in the pretrain workspace


def task_paths(patterns: list[str], root: Path) -> list[Path]:
    from danlu.evaluate.task import task_files

    return task_files(patterns, root)


def _scores_key(fingerprint: str, tasks: list[Path], context_length: int,
                batch_size: int) -> str:
    h = hashlib.sha256(f"{fingerprint}\n{context_length}\n{batch_size}".encode())
    for path in tasks:  # a task file and the data it names, which sits beside it
        for f in sorted(p for p in path.parent.iterdir() if p.is_file()):
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def score_model(run: RunPlan, params_path: str, patterns: list[str]) -> dict[str, float]:
    """`<task>.<metric>` and `core` of the run's pretrained model, from the cache or scored."""
    from danlu.evaluate.suite import AGGREGATE, ModelEntry, flat_metrics, run_suite
    from danlu.evaluate.task import load_task

    cfg = load_config(params_path, list(run.pretrain.overrides))
    paths = task_paths(patterns, cfg.root)
    if not paths:
        return {}
    fingerprint = json.loads((cfg.path(cfg.paths.outputs) / ".danlu" / "pretrain.json")
                             .read_text())["fingerprint"]
    cache = run.pretrain.workspace / SCORES_DIR / (
        _scores_key(fingerprint, paths, cfg.model.context_length, cfg.evaluate.batch_size)
        + ".json")
    if cache.is_file():
        return json.loads(cache.read_text())
    entry = ModelEntry(f"{run.variant} seed {run.seed}", "base", run.pretrain.folder / "model",
                       str(run.pretrain.folder / "model"))
    results, _ = run_suite([load_task(p) for p in paths], [entry],
                           context_length=cfg.model.context_length,
                           batch_size=cfg.evaluate.batch_size, seed=run.seed, dirty={},
                           clean_only=False)
    # each task's primary metric (the one the report card shows) and the CORE aggregate
    wanted = {AGGREGATE} | {f"{t['name']}.{t['primary']}" for t in results["tasks"]}
    scores = {key: value for key, value in ((k.removeprefix("base."), v)
                                            for k, v in flat_metrics(results).items())
              if key in wanted}
    atomic_write_json(cache, scores)
    return scores


def heldout_curve(pretrain_folder: Path, step_tokens: int) -> list[dict[str, float]]:
    """(tokens, heldout_bits_per_byte) at every validation, from the run's loss.csv."""
    path = pretrain_folder / "loss.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if rows and "heldout_bits_per_byte" not in rows[0]:
        raise DataError(f"{path}: no heldout_bits_per_byte column (train.heldout was not set)")
    return [{"tokens": int(row["step"]) * step_tokens,
             "heldout_bits_per_byte": float(row["heldout_bits_per_byte"])}
            for row in rows if row.get("heldout_bits_per_byte")]


def run_result(run: RunPlan, params_path: str, patterns: list[str], seconds: float) -> dict:
    """The run's line of the report: its metrics, its curve and which stage runs made it."""
    cfg = load_config(params_path, list(run.pretrain.overrides))
    records = {job.stage: last_record(load_config(params_path, list(job.overrides)), job.stage)
               for job in run.jobs}
    curate, tokenizer, pretrain = (records[s].metrics for s in ("curate", "tokenizer",
                                                                "pretrain"))
    steps = int(cfg.train.max_steps)
    tokens_seen = int(pretrain["train_tokens"])
    metrics = {
        "heldout.bits_per_byte": pretrain["heldout_bits_per_byte"],
        **score_model(run, params_path, patterns),
        # not the run's own val loss: each variant validates on its own data
        "tokens_seen": tokens_seen,
        # equal tokens are not equal text: a tokenizer that compresses better sees more
        "bytes_seen": round(tokens_seen * tokenizer["val_bytes_per_token"]),
        "documents_in": curate["documents_in"],
        "documents_kept": curate["kept"],
        "train_tokens_available": tokenizer["train_tokens"],
    }
    return {"variant": run.variant, "seed": run.seed, "status": "ok", "failed_stage": None,
            "error": None, "metrics": metrics,
            "curve": heldout_curve(run.pretrain.folder, tokens_seen // steps),
            "stages": {s: {"key": job.key, "run_id": records[s].run_id,
                           "workspace": str(job.workspace)} for s, job in zip(
                               (j.stage for j in run.jobs), run.jobs, strict=True)},
            "seconds": seconds}


def failed_result(run: RunPlan, stage: str, error: str, seconds: float) -> dict:
    return {"variant": run.variant, "seed": run.seed, "status": "failed", "failed_stage": stage,
            "error": error, "metrics": {}, "curve": [], "stages": {}, "seconds": seconds}
