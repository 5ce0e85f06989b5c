"""The stage table, the runner and the change check: everything `danlu run`, the stage commands
(which dvc.yaml runs) and the Prefect subflows share, and nothing stage-specific.

Each stage's entry is `danlu.<package>.stage.run(cfg, tracker) -> StageOutcome`. The runner
opens the stage's MLflow run, logs its params (the params.yaml keys it reads, dotted, and the
facts of the run the outcome reports) and its final metrics, once, and keeps a record.

A stage whose params, input files and code are unchanged since its last successful run is
reused (like `dvc repro`): the fingerprint is kept in `<outputs>/.danlu/<stage>.json`. Its code
is every danlu module its entry imports (danlu.imports), the same list dvc.yaml declares;
`danlu dvc-yaml` writes dvc.yaml from this table, and a test checks that they agree.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from danlu.atomic import atomic_write_json
from danlu.config.project import Config
from danlu.config.section import HUB_PREFIX
from danlu.dvc_files import dvc_stage, dvc_yaml_text
from danlu.errors import ConfigError, DataError
from danlu.evaluate.run import OUTPUT_FILES as EVALUATE_OUTPUTS
from danlu.evaluate.task import task_folders
from danlu.imports import PACKAGE_DIR, code_paths
from danlu.tracking.outcome import StageOutcome
from danlu.tracking.tracker import Tracker

log = logging.getLogger("danlu.pipeline")

SOURCE_DIR = "src/danlu"  # where the package's code is in the project (dvc.yaml's code deps)
HEADLINE_FILE = "headline.json"  # each stage's DVC metric: its headline numbers, nothing more


@dataclass(frozen=True)
class StageSpec:
    name: str
    package: str  # danlu.<package>.<module> is the entry
    params: tuple[str, ...]  # params.yaml sections (or dotted keys) the stage reads
    deps: Callable[[Config], list[Path]]  # input files and folders (not code)
    outs: Callable[[Config], list[Path]]  # cached outputs (folders or files)
    plots: Callable[[Config], list[Path]]
    headline: tuple[str, ...]  # the metrics of `dvc metrics show` and the run summary
    module: str = "stage"
    trains: bool = False  # a training loop: its run gets system metrics (tracking.system_metrics)

    @property
    def entry(self) -> str:
        return f"danlu.{self.package}.{self.module}"

    def metrics(self, cfg: Config) -> list[Path]:
        """The DVC metric file (not cached), written by the runner from the outcome."""
        return [cfg.out_dir(self.name) / HEADLINE_FILE]

    def code(self, package_dir: Path = PACKAGE_DIR) -> list[Path]:
        """Package-relative code the stage runs: every danlu unit its entry imports."""
        return code_paths(self.entry, package_dir)

    def outputs(self, cfg: Config) -> list[Path]:
        return self.outs(cfg) + self.metrics(cfg) + self.plots(cfg)

    def run(self, cfg: Config, tracker: Tracker) -> StageOutcome:
        return importlib.import_module(self.entry).run(cfg, tracker)


@dataclass
class StageRecord:
    """The small, serializable result of running (or reusing) a stage."""
    name: str
    cached: bool
    run_id: str | None
    seconds: float
    metrics: dict[str, float]
    outputs: list[str]
    registered: dict[str, str]


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


def _none(cfg: Config) -> list[Path]:
    return []


def _pretrain_inputs(cfg: Config) -> list[Path]:
    """The tokenizer's outputs, and train.heldout's text when one is set."""
    paths = _paths("tokenizer/tokenizer", "tokenizer/shards", "tokenizer/stats.json")(cfg)
    return paths + ([cfg.path(cfg.train.heldout)] if cfg.train.heldout is not None else [])


def _sft_outs(cfg: Config) -> list[Path]:
    """LoRA and QLoRA also leave their adapter folder beside the merged model."""
    outs = ["sft/model", "sft/metrics.json", "sft/quarantine.jsonl"]
    adapter = ["sft/adapter"] if cfg.finetune.method in ("lora", "qlora") else []
    return _paths(*outs, *adapter)(cfg)


def _evaluate_inputs(cfg: Config) -> list[Path]:
    """The three models, the unigram counts, the training data decontamination reads, and the
    task folders."""
    paths = [cfg.out_dir(s) / "model" for s in ("pretrain", "sft", "dpo")]
    paths += [cfg.out_dir("tokenizer") / "shards", cfg.out_dir("tokenizer") / "stats.json"]
    if cfg.evaluate.decontaminate.enabled:
        paths += [cfg.out_dir("curate") / "documents", *cfg.path_list(cfg.finetune.data),
                  *cfg.path_list(cfg.reward.data), *cfg.path_list(cfg.dpo.data)]
    paths += task_folders(cfg.evaluate.tasks, cfg.root)
    return list(dict.fromkeys(paths))


STAGES: dict[str, StageSpec] = {
    s.name: s for s in [
        StageSpec("curate", "curate", ("curate",), _curate_inputs,
                  _paths("curate/documents", "curate/dropped", "curate/quarantine",
                         "curate/validation.json", "curate/stats.json", "curate/stats.md"),
                  _none, ("documents_in", "kept", "dropped", "quarantined")),
        StageSpec("tokenizer", "tokenizer", ("seed", "tokenizer"),
                  _paths("curate/documents"),
                  _paths("tokenizer/tokenizer", "tokenizer/shards", "tokenizer/stats.json",
                         "tokenizer/mixture.json", "tokenizer/report.json",
                         "tokenizer/report.md"),
                  _none, ("vocab_size", "train_tokens", "val_bytes_per_token")),
        StageSpec("pretrain", "pretrain", ("seed", "model", "train"), _pretrain_inputs,
                  _paths("pretrain/model", "pretrain/metrics.json", "pretrain/samples.jsonl"),
                  _paths("pretrain/loss.csv"),
                  ("train_loss", "val_loss", "val_bits_per_byte", "heldout_bits_per_byte",
                   "train_tokens", "tokens_per_s"), trains=True),
        StageSpec("sft", "finetune", ("seed", "finetune", "train.threads"),
                  lambda cfg: [cfg.out_dir("pretrain") / "model",
                               *cfg.path_list(cfg.finetune.data)],
                  _sft_outs, _paths("sft/loss.csv"), ("train_loss", "val_loss"), trains=True),
        StageSpec("reward", "finetune", ("seed", "reward", "train.threads"),
                  lambda cfg: [cfg.out_dir(cfg.reward.base) / "model",
                               *cfg.path_list(cfg.reward.data)],
                  _paths("reward/model", "reward/metrics.json", "reward/quarantine.jsonl"),
                  _paths("reward/loss.csv"), ("val_accuracy",),
                  module="reward_stage", trains=True),
        StageSpec("dpo", "finetune", ("seed", "dpo", "train.threads"),
                  lambda cfg: [cfg.out_dir("sft") / "model", cfg.out_dir("reward") / "model",
                               *cfg.path_list(cfg.dpo.data), cfg.path(cfg.dpo.win_rate_prompts)],
                  _paths("dpo/model", "dpo/metrics.json", "dpo/quarantine.jsonl",
                         "dpo/win_rate.jsonl"),
                  _paths("dpo/loss.csv"), ("val_rewards/margins", "win_rate"),
                  module="dpo_stage", trains=True),
        StageSpec("evaluate", "evaluate", ("seed", "evaluate", "model.context_length",
                                           "finetune.method", "registry",
                                           "tracking.register_models"),
                  _evaluate_inputs,
                  _paths(*(f"evaluate/{name}" for name in EVALUATE_OUTPUTS)),
                  _none, ("base.core", "chat.core", "chat.heldout.bits_per_byte")),
    ]
}
ORDER = list(STAGES)


def choose_stages(names: list[str] | None) -> list[str]:
    """The stages to run, in pipeline order; an unknown name is a ConfigError naming the
    closest one."""
    if not names:
        return list(ORDER)
    for name in names:
        if name not in STAGES:
            close = difflib.get_close_matches(name, ORDER, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown stage {name!r}{hint}; the stages are {', '.join(ORDER)}")
    return [s for s in ORDER if s in names]


def check_inputs(cfg: Config, names: list[str]) -> None:
    """Before anything runs: every input of the chosen stages exists or is made by an earlier
    chosen stage. A DataError names the first missing path and what makes it."""
    made: dict[Path, str] = {}
    for name in ORDER:
        for out in STAGES[name].outputs(cfg):
            made[out] = name
    planned: set[Path] = set()
    for name in names:
        spec = STAGES[name]
        for dep in spec.deps(cfg):
            if dep in planned or dep.exists():
                continue
            rel = dep.relative_to(cfg.root) if dep.is_relative_to(cfg.root) else dep
            if dep in made:
                raise DataError(f"{rel}: missing, and the {made[dep]} stage that makes it is not "
                                f"in this run; add it, or run `danlu {made[dep]}` first")
            hint = " (`danlu sample` puts the bundled sample in data/)" \
                if dep.is_relative_to(cfg.path(cfg.paths.data)) else ""
            raise DataError(f"{rel}: input of the {name} stage not found{hint}")
        planned.update(spec.outputs(cfg))
    check_data_pushed(cfg)


def check_data_pushed(cfg: Config, dvc_file: str = "data.dvc") -> None:
    """tracking.require_pushed_data: on a team's DVC remote a run starts only when the data it
    reads is there, so that its lineage (data_dvc_md5) names data the others can pull. auto:
    when the default remote is shared (a URL; a local folder such as the sample's is not)."""
    from danlu.dvc_files import default_remote, is_shared, missing_from_remote

    setting = cfg.tracking.require_pushed_data
    remote = default_remote(cfg.root)
    if setting is False or (setting == "auto" and not (remote and is_shared(remote[1]))):
        return
    found = missing_from_remote(cfg.root, dvc_file)
    if found is None:
        raise DataError(f"{cfg.root}: tracking.require_pushed_data is true, but the project has "
                        f"no default DVC remote or no {dvc_file} (`dvc remote add -d ...`)")
    remote, missing = found
    if missing:
        raise DataError(f"{dvc_file}: {len(missing)} object(s) of its data are not in DVC remote "
                        f"{remote!r} (e.g. {missing[-1]}); `dvc push` first, so that this run "
                        "can be reproduced from the remote (tracking.require_pushed_data)")


# ---- fingerprints: reuse a stage whose params, inputs and code have not changed ---------------

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


def param_values(cfg: Config, keys: tuple[str, ...]) -> dict:
    """The values of params.yaml sections or dotted keys, as JSON-ready data."""
    data = cfg.model_dump(mode="json")
    picked = {}
    for key in keys:
        node = data
        for part in key.split("."):
            node = node[part]
        picked[key] = node
    return picked


def flat_params(cfg: Config, keys: tuple[str, ...]) -> dict[str, str]:
    """params.yaml values as MLflow params: one per leaf, by dotted key (lists as JSON)."""
    flat: dict[str, str] = {}

    def walk(prefix: str, node) -> None:
        if isinstance(node, dict) and node:
            for key, value in node.items():
                walk(f"{prefix}.{key}", value)
        else:
            flat[prefix] = node if isinstance(node, str) else json.dumps(node)

    for key, value in param_values(cfg, keys).items():
        walk(key, value)
    return flat


def fingerprint(spec: StageSpec, cfg: Config, package_dir: Path = PACKAGE_DIR) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(param_values(cfg, spec.params), sort_keys=True).encode())
    for dep in spec.deps(cfg):
        _hash_path(h, dep, cfg.root)
    for code in spec.code(package_dir):
        _hash_path(h, package_dir / code, package_dir)
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
    if saved.get("fingerprint") != fingerprint(spec, cfg) or \
            not all(p.exists() for p in spec.outputs(cfg)):
        return None
    record = StageRecord(**saved["record"])
    record.cached = True
    record.registered = {}  # reusing outputs registers no new model version
    return record


# ---- the runner -----------------------------------------------------------------------------

def run_stage(name: str, cfg: Config, *, parent_run_id: str | None = None,
              force: bool = False, track: bool = True,
              run_tags: dict[str, str] | None = None) -> StageRecord:
    """Run one stage (or reuse its unchanged outputs), tracked as an MLflow run (with
    `run_tags` besides danlu's own); then record it in dvc.lock too, so that `dvc status` and
    `dvc repro` know it ran (danlu.dvc_files). A reused stage makes no MLflow run: its record
    names the run that made its outputs."""
    spec = STAGES[name]
    record = None if force else cached_record(cfg, name)
    if record is not None:
        log.info("%s: unchanged since its last run; outputs reused", name)
    else:
        record = _run(spec, cfg, parent_run_id, track, run_tags or {})
    _record_in_dvc_lock(spec, cfg)
    return record


def _record_in_dvc_lock(spec: StageSpec, cfg: Config) -> None:
    """dvc.lock gets the stage when dvc.yaml describes this very run: the same paths and code
    (dvc.yaml as `danlu dvc-yaml` writes it for this config) and params.yaml's own values."""
    from danlu.config.load import load_config
    from danlu.dvc_files import commit, declared_stage, dvc_project

    if not dvc_project(cfg.root):
        return
    saved = load_config(cfg.root / "params.yaml")
    if saved.paths != cfg.paths:  # e.g. an ablation's stage, in a workspace of its own
        log.info("%s: outputs in %s, not dvc.yaml's; dvc.lock not updated", spec.name,
                 cfg.paths.outputs)
        return
    if param_values(saved, spec.params) != param_values(cfg, spec.params):
        log.info("%s: run with -S overrides of its params; dvc.lock not updated", spec.name)
        return
    if declared_stage(cfg.root, spec.name) != dvc_stage(spec, cfg, SOURCE_DIR):
        log.warning("%s: dvc.yaml declares other paths or code than this run; dvc.lock not "
                 "updated (`danlu dvc-yaml` rewrites dvc.yaml)", spec.name)
        return
    commit(cfg.root, spec.name)


def _run(spec: StageSpec, cfg: Config, parent_run_id: str | None, track: bool,
         run_tags: dict[str, str]) -> StageRecord:
    start = time.perf_counter()
    if track:
        from danlu.tracking.lineage import lineage_tags
        from danlu.tracking.mlflow_runs import tracked_run

        tags = {**run_tags, "danlu.stage": spec.name, "danlu.cached": "false",
                **lineage_tags(cfg)}
        with tracked_run(cfg, spec.name, parent_run_id=parent_run_id, tags=tags,
                         with_system_metrics=spec.trains and cfg.tracking.system_metrics
                         ) as tracker:
            outcome = spec.run(cfg, tracker)
            tracker.log_params({**flat_params(cfg, spec.params), **outcome.params})
            tracker.log_metrics(outcome.metrics)
            run_id = tracker.run_id
    else:
        from danlu.tracking.tracker import NullTracker

        outcome, run_id = spec.run(cfg, NullTracker()), None
    headline = {k: outcome.metrics[k] for k in spec.headline if k in outcome.metrics}
    atomic_write_json(cfg.out_dir(spec.name) / HEADLINE_FILE, headline)
    record = StageRecord(spec.name, False, run_id, time.perf_counter() - start,
                         {k: float(v) for k, v in outcome.metrics.items()},
                         [str(p) for p in spec.outputs(cfg)], outcome.registered)
    atomic_write_json(_record_path(cfg, spec.name),
                      {"fingerprint": fingerprint(spec, cfg), "record": asdict(record)})
    return record


def render_dvc_yaml(cfg: Config) -> str:
    """dvc.yaml for this config, from the table: what `danlu dvc-yaml` writes."""
    return dvc_yaml_text({name: dvc_stage(spec, cfg, SOURCE_DIR) for name, spec in STAGES.items()})
