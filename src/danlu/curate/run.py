"""The curate stage: raw WARC/JSONL/Parquet -> extracted, language-identified, filtered,
quality-scored, deduplicated documents, validated by Great Expectations, written atomically.

    out_dir/documents/part-NNNNN.parquet   kept documents, one part per input shard, in order
    out_dir/dropped/part-NNNNN.parquet     id, source, url, reason, detail, n_bytes
    out_dir/quarantine/quarantine.jsonl    inputs that could not become documents, and why
    out_dir/stats.json, stats.md           counts per step, reason and source (+ invariant)
    out_dir/validation.json                Great Expectations report on every output
    out_dir/data_docs/index.html           its Data Docs (curate.validation.data_docs)
    out_dir/quality_model/                 the quality classifier and its held-out ROC-AUC

How it runs: the inputs are cut into shards (shards.py); each shard is read, extracted and
filtered in a worker process (worker.py), all cores by default (execute.py); then the steps that
need the whole corpus run once (corpus.py). Shard results live in `.<out_dir>.work/` until the
run succeeds, so a killed run, started again, redoes only the shards it had not finished.

When the gate fails, out_dir is left as it was and the reports go to `<out_dir>.rejected/`
beside it, so the reason can be read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from danlu.atomic import atomic_dir, atomic_write_json, atomic_write_text, writes_to
from danlu.config.curate import CurateConfig
from danlu.curate.corpus import (
    Corpus,
    apply_exact_dedup,
    apply_line_dedup,
    apply_near_dedup,
    apply_quality,
    shard_stats,
    write_outputs,
)
from danlu.curate.readers import list_input_files
from danlu.curate.shards import plan_shards
from danlu.curate.stats import EXACT_STEP, LINE_STEP, NEAR_STEP, QUALITY_STEP, stats_markdown
from danlu.curate.steps import corpus_steps, shard_filters
from danlu.curate.worker import ShardJob, finished, run_shard, shard_dir
from danlu.errors import DataError, ValidationFailed
from danlu.runners import PreparedProcess, Runners, ShardRunner, run_all
from danlu.tracking.tracker import Tracker
from danlu.validate.runner import warm_up

log = logging.getLogger("danlu.curate")

DOCUMENTS_DIR = "documents"
DROPPED_DIR = "dropped"
QUARANTINE_FILE = "quarantine/quarantine.jsonl"
STATS_FILE = "stats.json"
STATS_MARKDOWN = "stats.md"
VALIDATION_FILE = "validation.json"
QUALITY_DIR = "quality_model"
DATA_DOCS_DIR = "data_docs"
REJECTED_SUFFIX = ".rejected"
WORK_SUFFIX = ".work"


@dataclass(frozen=True)
class CurateResult:
    out_dir: Path
    documents: Path  # folder of parquet parts
    dropped: Path  # folder of parquet parts
    quarantine: Path
    stats_path: Path
    validation_path: Path
    stats: dict

    def metrics(self) -> dict[str, float]:
        return stats_metrics(self.stats)

    @property
    def markdown_path(self) -> Path:
        return self.out_dir / STATS_MARKDOWN


def stats_metrics(stats: dict) -> dict[str, float]:
    """Flat numeric metrics for MLflow: totals, one per drop and quarantine reason, per source."""
    metrics = {k: float(stats[k]) for k in ("documents_in", "bytes_in", "kept", "bytes_kept")}
    metrics["dropped"] = float(sum(stats["dropped"].values()))
    metrics["quarantined"] = float(sum(stats["quarantined"].values()))
    metrics["kept_fraction"] = stats["kept"] / max(stats["documents_in"], 1)
    for outcome in ("dropped", "quarantined"):
        metrics.update({f"{outcome}_{reason}": float(n) for reason, n in stats[outcome].items()})
    for step in stats["steps"]:
        if step.get("bytes_removed"):
            metrics[f"bytes_removed_{step['step']}"] = float(step["bytes_removed"])
    for source, counts in stats["sources"].items():
        for key in ("documents_in", "kept"):
            metrics[f"source.{source}.{key}"] = float(counts[key])
    if "roc_auc" in stats.get("quality", {}):
        metrics["quality_roc_auc"] = float(stats["quality"]["roc_auc"])
    return metrics


def curate(
    cfg: CurateConfig,
    inputs: dict[str, list[Path]],
    out_dir: Path,
    *,
    tracker: Tracker | None = None,
    runner: ShardRunner | None = None,
) -> CurateResult:
    """Curate `inputs` (source name -> files or folders) into `out_dir`; see the module doc."""
    out_dir = Path(out_dir)
    # Every path is checked before any work, so a typo fails in a second, not after an hour.
    files = {}
    for source, paths in inputs.items():
        if not paths:
            raise DataError(f"curate input source {source!r} lists no files or folders")
        files[source] = list_input_files(paths)
    sources = list(files)
    steps = [f.name for f in shard_filters(cfg)] + corpus_steps(cfg, sources)
    shards = plan_shards(files, cfg.execution.shard_bytes)
    work = _work_dir(out_dir, cfg, steps)
    jobs = [ShardJob(shard, cfg, work / "shards", tuple(steps)) for shard in shards]
    # Biggest first: the last shards to start are small, so the workers finish together. The
    # outputs are read in shard order whatever the order they ran in.
    todo = sorted((job for job in jobs if not finished(job)),
                  key=lambda job: (-job.shard.approx_bytes(), job.shard.index))
    if len(todo) < len(jobs):
        log.info("curate: resuming; %d of %d shards already done in %s",
                 len(jobs) - len(todo), len(jobs), work)
    # Great Expectations' 2-3 s of import, done while the shards run, in a process of its own
    # that validates the outputs at the end (or a thread of this one, see PreparedProcess).
    with PreparedProcess(warm_up, "great_expectations") as validator, \
            Runners(cfg.execution, runner) as runner_for:
        log.info("curate: %d shards from %d files, %d to run on %s", len(jobs),
                 sum(len(f) for f in files.values()), len(todo), runner_for(len(todo)).name)
        # The threaded import (if any) starts after the pool: a local pool forks its workers
        # only while this process runs no other thread, and its imports would wait for the lock.
        run_all(runner_for(len(todo)), run_shard, todo, "curate shards", started=validator.start)
        dirs = [shard_dir(work / "shards", shard) for shard in shards]
        stats = _accept(cfg, dirs, steps, sources, out_dir, runner_for, tracker, work,
                        validator)
    shutil.rmtree(work, ignore_errors=True)
    result = CurateResult(
        out_dir=out_dir,
        documents=out_dir / DOCUMENTS_DIR,
        dropped=out_dir / DROPPED_DIR,
        quarantine=out_dir / QUARANTINE_FILE,
        stats_path=out_dir / STATS_FILE,
        validation_path=out_dir / VALIDATION_FILE,
        stats=stats,
    )
    _track(tracker, out_dir, status="accepted")
    return result


def _accept(
    cfg: CurateConfig, dirs: list[Path], steps: list[str], sources: list[str], out_dir: Path,
    runner_for: Runners, tracker: Tracker | None, work: Path, validator: PreparedProcess,
) -> dict:
    """The corpus steps and the gate, in a temporary folder that becomes out_dir only when the
    gate passes; a rejection keeps its reports beside it and raises."""
    rejected = out_dir.with_name(out_dir.name + REJECTED_SUFFIX)
    with atomic_dir(out_dir) as tmp:
        stats = _corpus_steps(cfg, dirs, steps, sources, tmp, runner_for, work)
        atomic_write_json(tmp / STATS_FILE, stats)
        atomic_write_text(tmp / STATS_MARKDOWN, stats_markdown(stats))
        _log_stats(stats)
        if stats["kept"] == 0:
            log.warning("curate kept no documents: check the inputs and curate.language.keep")
        try:
            validator.call(_validate, cfg, tmp, steps)
        except ValidationFailed as exc:
            _keep_reports(tmp, rejected)
            _track(tracker, rejected, status="rejected")
            shutil.rmtree(work, ignore_errors=True)
            # The summary names the report inside the temporary folder, which is about to go.
            summary = str(exc).replace(str(tmp), str(rejected))
            where = f"{out_dir} was not written; stats.json and validation.json are in {rejected}"
            raise ValidationFailed(
                f"{summary}\n{where}", report_path=str(rejected / VALIDATION_FILE)
            ) from None
    shutil.rmtree(rejected, ignore_errors=True)  # an old rejection no longer describes out_dir
    return stats


def _work_dir(out_dir: Path, cfg: CurateConfig, steps: list[str]) -> Path:
    """The folder of finished shards. Kept across a killed run only when the settings and the
    curate code are the same; otherwise it starts empty."""
    work = out_dir.with_name(f".{out_dir.name}{WORK_SUFFIX}")
    settings = cfg.model_dump(mode="json", exclude={"execution": {"workers", "dask_address"}})
    code = hashlib.sha256()
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        code.update(path.read_bytes())
    identity = {"settings": settings, "steps": steps, "code": code.hexdigest()}
    manifest = work / "manifest.json"
    try:
        same = json.loads(manifest.read_text()) == identity
    except (OSError, ValueError):
        same = False
    if not same:
        shutil.rmtree(work, ignore_errors=True)
        with writes_to(out_dir):  # the first write of the run: a read-only place fails here
            (work / "shards").mkdir(parents=True)
        atomic_write_json(manifest, identity)
    return work


def _corpus_steps(
    cfg: CurateConfig, dirs: list[Path], steps: list[str], sources: list[str], tmp: Path,
    runner_for: Runners, work: Path,
) -> dict:
    stats = shard_stats(dirs, steps, sources)
    corpus = Corpus.load(dirs)
    extra = {}
    if QUALITY_STEP in steps:
        extra["quality"] = apply_quality(corpus, cfg, stats, tmp / QUALITY_DIR, runner_for)
    if EXACT_STEP in steps:
        apply_exact_dedup(corpus, stats)
    if NEAR_STEP in steps:
        extra["near_dedup"] = apply_near_dedup(corpus, cfg, stats)
    if LINE_STEP in steps:
        extra["line_dedup"] = apply_line_dedup(corpus, cfg, stats, work / "lines")
    write_outputs(corpus, stats, tmp, DOCUMENTS_DIR, DROPPED_DIR, QUARANTINE_FILE)
    return {**stats.to_dict(), **extra, "shards": len(dirs)}


def _validate(cfg: CurateConfig, tmp: Path, steps: list[str]) -> dict:
    from danlu.validate.curate_outputs import validate_curate_outputs

    return validate_curate_outputs(
        tmp, cfg.validation, cfg.language.keep, steps,
        quality_enabled=QUALITY_STEP in steps, exact_dedup=cfg.exact_dedup,
        report_path=tmp / VALIDATION_FILE,
        data_docs_dir=tmp / DATA_DOCS_DIR if cfg.validation.data_docs else None,
    )


def _keep_reports(tmp: Path, rejected: Path) -> None:
    with atomic_dir(rejected) as keep:
        for name in (STATS_FILE, STATS_MARKDOWN, VALIDATION_FILE):
            shutil.copy2(tmp / name, keep / name)
        if (tmp / DATA_DOCS_DIR).is_dir():
            shutil.copytree(tmp / DATA_DOCS_DIR, keep / DATA_DOCS_DIR)


def _log_stats(stats: dict) -> None:
    for step in stats["steps"]:
        removed = ", ".join(f"{reason} {n}" for reason, n in step["removed"].items()) or "none"
        log.info(
            "curate %-20s in %7d  out %7d  removed: %s", step["step"], step["in"], step["out"], removed
        )
    log.info(
        "curate: %d documents in, %d kept, %d dropped, %d quarantined",
        stats["documents_in"],
        stats["kept"],
        sum(stats["dropped"].values()),
        sum(stats["quarantined"].values()),
    )


def _track(tracker: Tracker | None, folder: Path, status: str) -> None:
    """The gate's verdict as a tag and the reports as artifacts (the runner logs the params
    and metrics)."""
    if tracker is None:
        return
    tracker.set_tags({"curate.validation": status})
    for name in (STATS_FILE, STATS_MARKDOWN, VALIDATION_FILE):
        tracker.log_artifact(folder / name, "curate")
    for name in (QUALITY_DIR, DATA_DOCS_DIR):
        if (folder / name).is_dir():
            tracker.log_artifact(folder / name, f"curate/{name}")
