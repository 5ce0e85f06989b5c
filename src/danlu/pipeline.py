"""The stages, their inputs and outputs in one table, and the runner that the CLI, the DVC stage
commands and the Prefect tasks all call: `run_stage(name, cfg)`.

A stage whose inputs, params and code are unchanged since its last successful run is skipped
(like `dvc repro`): its fingerprint is kept in `<outputs>/.danlu/<stage>.json`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from danlu.atomic import atomic_write_json
from danlu.config import HUB_PREFIX, Config
from danlu.tracking.tracker import Tracker

log = logging.getLogger("danlu.pipeline")

PACKAGE_DIR = Path(__file__).resolve().parent
COMMON_CODE = ("config.py", "pipeline.py")


@dataclass(frozen=True)
class StageSpec:
    name: str
    params: tuple[str, ...]  # params.yaml sections (or dotted keys) the stage reads
    code: tuple[str, ...]  # package sub-paths whose source the stage runs
    deps: Callable[[Config], list[Path]]
    outs: Callable[[Config], list[Path]]  # cached outputs (folders or files)
    metrics: Callable[[Config], list[Path]]
    plots: Callable[[Config], list[Path]]
    run: Callable[[Config, Tracker], "StageOutcome"]


@dataclass
class StageOutcome:
    """What a stage function returns to the runner."""
    metrics: dict[str, float]
    registered: dict[str, str] = field(default_factory=dict)  # model name -> version


@dataclass
class StageRecord:
    """The small, serializable result of running (or skipping) a stage."""
    name: str
    cached: bool
    run_id: str | None
    seconds: float
    metrics: dict[str, float]
    outputs: list[str]
    registered: dict[str, str]


def out_dir(cfg: Config, stage: str) -> Path:
    return cfg.path(cfg.paths.outputs) / stage


# ---- the stage functions: params -> paths -> library calls ----------------------------------

def curate_settings(cfg: Config):
    """cfg.curate with its file paths (the URL blocklist) resolved against the project root."""
    if cfg.curate.url_blocklist is None:
        return cfg.curate
    return cfg.curate.model_copy(update={"url_blocklist": str(cfg.path(cfg.curate.url_blocklist))})


def _curate(cfg: Config, tracker: Tracker) -> StageOutcome:
    from danlu.curate.stage import curate

    inputs = {source: [cfg.path(p) for p in paths] for source, paths in cfg.curate.inputs.items()}
    result = curate(curate_settings(cfg), inputs, out_dir(cfg, "curate"), tracker=tracker)
    return StageOutcome(result.metrics())


def _tokenizer(cfg: Config, tracker: Tracker) -> StageOutcome:
    from danlu.tokenizer.stage import build_tokenizer

    result = build_tokenizer(cfg.tokenizer, out_dir(cfg, "curate") / "documents",
                             out_dir(cfg, "tokenizer"), seed=cfg.seed, tracker=tracker)
    return StageOutcome(result.metrics())


def _register(cfg: Config, tracker: Tracker, model_dir: Path, name: str,
              extra_tags: dict[str, str]) -> dict[str, str]:
    from danlu.tracking.mlflow_runs import MlflowTracker

    if not (cfg.tracking.register_models and isinstance(tracker, MlflowTracker)):
        return {}
    from danlu.tracking.lineage import lineage_tags
    from danlu.tracking.registry import register_model

    tags = {**lineage_tags(cfg), **extra_tags}
    version = register_model(cfg, tracker, model_dir, name, tags,
                             max_new_tokens=cfg.evaluate.max_new_tokens)
    return {name: version}


def _pretrain(cfg: Config, tracker: Tracker) -> StageOutcome:
    """In this process, or under torchrun (train.nproc_per_node), whose rank 0 logs into this
    stage's MLflow run."""
    from danlu.pretrain.launch import processes, run_torchrun
    from danlu.pretrain.stage import pretrain

    nproc = processes(cfg.train.nproc_per_node)
    if nproc > 1:
        result = run_torchrun(cfg, nproc, getattr(tracker, "run_id", None))
    else:
        result = pretrain(cfg.model, cfg.train, out_dir(cfg, "tokenizer"),
                          out_dir(cfg, "pretrain"), seed=cfg.seed, tracker=tracker)
    tracker.log_artifact(result.loss_path)
    tracker.log_artifact(result.metrics_path)
    tags = {"val_bits_per_byte": f"{result.metrics['val_bits_per_byte']:.4f}",
            "preset": cfg.model.preset}
    registered = _register(cfg, tracker, result.model_dir, cfg.registry.base_model, tags)
    return StageOutcome(result.metrics, registered)


def _sft(cfg: Config, tracker: Tracker) -> StageOutcome:
    from danlu.finetune.sft import sft

    result = sft(cfg.sft, out_dir(cfg, "pretrain") / "model", cfg.path(cfg.sft.data),
                 out_dir(cfg, "sft"), seed=cfg.seed, threads=cfg.train.threads, tracker=tracker)
    tracker.log_artifact(result.out_dir / "loss.csv")
    tags = {"sft_val_loss": f"{result.metrics['val_loss']:.4f}", "method": "full"}
    registered = _register(cfg, tracker, result.model_dir, cfg.registry.chat_model, tags)
    return StageOutcome(result.metrics, registered)


def _evaluate(cfg: Config, tracker: Tracker) -> StageOutcome:
    from danlu.evaluate.stage import evaluate
    from danlu.tokenizer.shards import unigram_counts
    from danlu.pretrain.stage import shard_paths

    tok_dir = out_dir(cfg, "tokenizer")
    vocab = json.loads((tok_dir / "stats.json").read_text())["vocab_size"]
    counts = unigram_counts(shard_paths(tok_dir / "shards", "train"), vocab)
    result = evaluate(cfg.evaluate, out_dir(cfg, "pretrain") / "model",
                      out_dir(cfg, "sft") / "model", counts, out_dir(cfg, "evaluate"),
                      context_length=cfg.model.context_length, tracker=tracker, root=cfg.root)
    return StageOutcome(result.metrics())


def _paths(*parts: str) -> Callable[[Config], list[Path]]:
    """Paths under the outputs folder, e.g. _paths("curate/documents")."""
    return lambda cfg: [cfg.path(cfg.paths.outputs) / p for p in parts]


def _curate_inputs(cfg: Config) -> list[Path]:
    """The input files, and the URL blocklist when one is set (dvc.yaml lists the defaults)."""
    # A hub dataset (hf://datasets/...) is a name, not content this machine can hash.
    paths = {cfg.path(p) for paths in cfg.curate.inputs.values() for p in paths
             if not p.startswith(HUB_PREFIX)}
    if cfg.curate.url_blocklist is not None:
        paths.add(cfg.path(cfg.curate.url_blocklist))
    return sorted(paths)


STAGES: dict[str, StageSpec] = {
    s.name: s for s in [
        StageSpec("curate", ("curate",), ("curate", "validate"), _curate_inputs,
                  _paths("curate/documents", "curate/dropped", "curate/quarantine",
                         "curate/validation.json", "curate/stats.md"),
                  _paths("curate/stats.json"), lambda cfg: [], _curate),
        StageSpec("tokenizer", ("seed", "tokenizer"), ("tokenizer",),
                  _paths("curate/documents"),
                  _paths("tokenizer/tokenizer", "tokenizer/shards", "tokenizer/report.json",
                         "tokenizer/report.md"),
                  _paths("tokenizer/stats.json", "tokenizer/mixture.json"), lambda cfg: [],
                  _tokenizer),
        StageSpec("pretrain", ("seed", "model", "train"), ("model", "pretrain", "tokenizer"),
                  _paths("tokenizer/tokenizer", "tokenizer/shards", "tokenizer/stats.json"),
                  _paths("pretrain/model", "pretrain/samples.jsonl"), _paths("pretrain/metrics.json"),
                  _paths("pretrain/loss.csv"), _pretrain),
        StageSpec("sft", ("seed", "sft", "train.threads"), ("finetune", "pretrain", "tokenizer"),
                  lambda cfg: [out_dir(cfg, "pretrain") / "model", cfg.path(cfg.sft.data)],
                  _paths("sft/model"), _paths("sft/metrics.json"), _paths("sft/loss.csv"),
                  _sft),
        StageSpec("evaluate", ("evaluate", "model.context_length"), ("evaluate", "tokenizer"),
                  lambda cfg: [out_dir(cfg, "pretrain") / "model", out_dir(cfg, "sft") / "model",
                               out_dir(cfg, "tokenizer") / "shards",
                               out_dir(cfg, "tokenizer") / "stats.json",
                               cfg.path(cfg.evaluate.heldout), cfg.path(cfg.evaluate.prompts)],
                  _paths("evaluate/report.md", "evaluate/samples.jsonl"),
                  _paths("evaluate/metrics.json"), lambda cfg: [], _evaluate),
    ]
}
ORDER = list(STAGES)


# ---- fingerprints: skip a stage whose inputs, params and code have not changed ---------------

def _hash_path(h: "hashlib._Hash", path: Path, base: Path) -> None:
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            _hash_path(h, f, base)
    elif path.is_file():
        h.update(str(path.relative_to(base) if path.is_relative_to(base) else path).encode())
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    else:
        h.update(f"missing:{path}".encode())


def _param_values(cfg: Config, keys: tuple[str, ...]) -> dict:
    data = cfg.model_dump(mode="json")
    picked = {}
    for key in keys:
        node = data
        for part in key.split("."):
            node = node[part]
        picked[key] = node
    return picked


def fingerprint(spec: StageSpec, cfg: Config) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(_param_values(cfg, spec.params), sort_keys=True).encode())
    for dep in spec.deps(cfg):
        _hash_path(h, dep, cfg.root)
    for sub in (*spec.code, *COMMON_CODE):
        _hash_path(h, PACKAGE_DIR / sub, PACKAGE_DIR)
    return h.hexdigest()


def _record_path(cfg: Config, name: str) -> Path:
    return cfg.path(cfg.paths.outputs) / ".danlu" / f"{name}.json"


def last_record(cfg: Config, name: str) -> StageRecord:
    """The record the stage's last successful run wrote (by whichever process ran it)."""
    path = _record_path(cfg, name)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no record of a finished {name} stage")
    return StageRecord(**json.loads(path.read_text())["record"])


def cached_record(cfg: Config, name: str) -> StageRecord | None:
    """The last record of `name` if its fingerprint still holds and its outputs exist."""
    spec = STAGES[name]
    path = _record_path(cfg, name)
    if not path.is_file():
        return None
    saved = json.loads(path.read_text())
    outputs = spec.outs(cfg) + spec.metrics(cfg) + spec.plots(cfg)
    if saved.get("fingerprint") != fingerprint(spec, cfg) or not all(p.exists() for p in outputs):
        return None
    record = StageRecord(**saved["record"])
    record.cached = True
    record.registered = {}  # reusing outputs registers no new model version
    return record


def run_stage(name: str, cfg: Config, *, parent_run_id: str | None = None,
              force: bool = False, track: bool = True) -> StageRecord:
    """Run one stage (or reuse its unchanged outputs), tracked as an MLflow run."""
    from danlu.tracking.tracker import NullTracker

    spec = STAGES[name]
    if not force and (record := cached_record(cfg, name)) is not None:
        log.info("%s: unchanged since its last run; outputs reused", name)
        if track and parent_run_id:
            from danlu.tracking.mlflow_runs import tracked_run

            with tracked_run(cfg, name, parent_run_id=parent_run_id,
                             tags={"danlu.stage": name, "danlu.cached": "true",
                                   "danlu.source_run": str(record.run_id)}) as tracker:
                tracker.log_metrics(record.metrics)
        return record

    start = time.perf_counter()
    outputs = [str(p) for p in spec.outs(cfg) + spec.metrics(cfg) + spec.plots(cfg)]
    if track:
        from danlu.tracking.lineage import lineage_tags
        from danlu.tracking.mlflow_runs import tracked_run

        tags = {"danlu.stage": name, "danlu.cached": "false", **lineage_tags(cfg)}
        with tracked_run(cfg, name, parent_run_id=parent_run_id, tags=tags) as tracker:
            tracker.log_params({f"params.{k}": json.dumps(v) for k, v in
                                _param_values(cfg, spec.params).items()})
            outcome = spec.run(cfg, tracker)
            tracker.log_metrics(outcome.metrics)
            for metrics_file in spec.metrics(cfg):
                tracker.log_artifact(metrics_file)
            run_id = tracker.run_id
    else:
        outcome, run_id = spec.run(cfg, NullTracker()), None
    record = StageRecord(name, False, run_id, time.perf_counter() - start,
                         {k: float(v) for k, v in outcome.metrics.items()}, outputs,
                         outcome.registered)
    atomic_write_json(_record_path(cfg, name),
                      {"fingerprint": fingerprint(spec, cfg), "record": asdict(record)})
    return record
