"""Which stage runs an ablation needs, and where each one's outputs live.

A run (variant x seed) is curate -> tokenizer -> pretrain. Each stage runs in a workspace of
its own, `<outputs>/ablations/stages/<stage>-<key>`, whose key hashes the stage's params (those
`danlu.pipeline` declares for it) and its upstream stage's key: runs that share a stage's
settings share its workspace, so it is computed once (the seeds of a variant share its curate
and tokenizer; variants that differ only in training share everything before pretrain), and a
later ablation with the same settings reuses it too. The earlier stages' folders are symlinks
in each workspace, so every stage reads `<outputs>/<stage>` as in the pipeline; inside a
workspace the pipeline's own change check (its fingerprint) decides whether to run again."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from danlu.ablation.spec import AblationSpec, base_config, training_steps
from danlu.config.load import load_config
from danlu.config.project import Config
from danlu.errors import ConfigError
from danlu.pipeline import STAGES, param_values

CHAIN = ("curate", "tokenizer", "pretrain")
ABLATIONS_DIR = "ablations"  # under paths.outputs


@dataclass(frozen=True)
class StageJob:
    stage: str
    key: str
    workspace: Path  # an outputs folder: the stage writes <workspace>/<stage>
    overrides: tuple[str, ...]  # everything that makes its config, paths.outputs included
    upstream: tuple["StageJob", ...] = ()  # the earlier stages whose folders it links

    @property
    def folder(self) -> Path:
        return self.workspace / self.stage

    def link_upstream(self) -> None:
        """Symlink each earlier stage's folder into this workspace (relative, so the ablation
        folder can move)."""
        self.workspace.mkdir(parents=True, exist_ok=True)
        for job in self.upstream:
            link = self.workspace / job.stage
            target = os.path.relpath(job.folder, self.workspace)
            if link.is_symlink() and os.readlink(link) == target:
                continue
            if link.is_symlink():
                link.unlink()
            elif link.exists():
                raise ConfigError(f"{link}: expected a link to {job.folder}, found a folder; "
                                  "remove it")
            link.symlink_to(target, target_is_directory=True)


@dataclass(frozen=True)
class RunPlan:
    variant: str
    seed: int
    jobs: tuple[StageJob, ...]  # in CHAIN order
    overrides: tuple[str, ...]  # the run's overrides without paths.outputs

    @property
    def pretrain(self) -> StageJob:
        return self.jobs[-1]


@dataclass
class AblationPlan:
    spec: AblationSpec
    params_path: str
    root: Path  # <outputs>/ablations
    steps: int
    tokens: int
    heldout: str
    task_patterns: list[str]
    runs: list[RunPlan] = field(default_factory=list)

    @property
    def report_dir(self) -> Path:
        return self.root / self.spec.name

    def unique_jobs(self) -> dict[str, StageJob]:
        """Every distinct stage job by key: what the ablation computes at most once."""
        return {job.key: job for run in self.runs for job in run.jobs}


def _stage_key(stage: str, cfg: Config, upstream: str) -> str:
    values = json.dumps(param_values(cfg, STAGES[stage].params), sort_keys=True)
    return hashlib.sha256(f"{stage}\n{upstream}\n{values}".encode()).hexdigest()[:12]


def plan_ablation(spec: AblationSpec, params_path: str, overrides: list[str]) -> AblationPlan:
    """Every run's stage jobs, keyed and placed; configs are validated here, before anything
    runs, so a bad override fails at once and names its variant."""
    base = base_config(params_path, overrides, spec)
    steps, tokens = training_steps(spec, base)
    heldout = spec.heldout or base.train.heldout
    if heldout is None:
        raise ConfigError(f"ablation {spec.name}: no held-out text: set heldout: in the "
                          "ablation or train.heldout in params.yaml (e.g. "
                          "data/eval/tasks/heldout.jsonl)")
    if not base.path(heldout).is_file():
        raise ConfigError(f"ablation {spec.name}: held-out text {heldout} not found")
    root = base.path(base.paths.outputs) / ABLATIONS_DIR
    plan = AblationPlan(spec, params_path, root, steps, tokens, heldout,
                        spec.tasks if spec.tasks is not None else list(base.evaluate.tasks))
    for variant, variant_overrides in spec.variants.items():
        for seed in spec.seeds:
            run_overrides = (*overrides, *spec.common, *variant_overrides,
                             f"train.seed={seed}", f"train.max_steps={steps}",
                             f"train.heldout={heldout}", "tracking.register_models=false")
            try:
                cfg = load_config(params_path, list(run_overrides))
            except ConfigError as exc:
                raise ConfigError(f"ablation {spec.name}: variant {variant}: {exc}") from None
            jobs: list[StageJob] = []
            key = ""
            for stage in CHAIN:
                key = _stage_key(stage, cfg, key)
                workspace = root / "stages" / f"{stage}-{key}"
                where = workspace.relative_to(base.root) if workspace.is_relative_to(
                    base.root) else workspace
                jobs.append(StageJob(stage, key, workspace,
                                     (*run_overrides, f"paths.outputs={where}"),
                                     tuple(jobs)))
            plan.runs.append(RunPlan(variant, seed, tuple(jobs), run_overrides))
    return plan
