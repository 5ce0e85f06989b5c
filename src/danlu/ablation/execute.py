"""Run one ablation run (variant x seed): its three stage jobs, each in its workspace under a
lock (a run that shares a stage with another waits for it, then reuses it), then its scores.
A failure is the run's result, not an exception: the other runs go on, and a shared stage that
failed is not tried again by the runs that need it. How a stage job runs is the caller's: in
this process (`local_stage_runner`), or as a Prefect subflow or a work pool's flow run
(flows/ablation.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from danlu.ablation.plan import AblationPlan, RunPlan, StageJob
from danlu.ablation.score import failed_result, run_result
from danlu.config.load import load_config
from danlu.errors import DataError, one_line
from danlu.project_lock import project_lock

log = logging.getLogger("danlu.ablation")

# (job, MLflow parent run id) -> None; raises when the stage fails
StageRunner = Callable[[StageJob, str | None], None]


def local_stage_runner(params_path: str, *, track: bool = True) -> StageRunner:
    """Stage jobs in this process, through the pipeline's runner (change check included)."""
    from danlu.pipeline import run_stage

    def run(job: StageJob, parent_run_id: str | None) -> None:
        run_stage(job.stage, load_config(params_path, list(job.overrides)),
                  parent_run_id=parent_run_id, track=track)

    return run


def execute_run(run: RunPlan, plan: AblationPlan, run_stage_job: StageRunner,
                parent_run_id: str | None, failed_jobs: dict[str, str]) -> dict:
    """The run's result (danlu.ablation.score): measured, or failed with its stage and error.
    `failed_jobs` (job key -> error) is shared by the runs of one ablation."""
    start = time.perf_counter()
    for job in run.jobs:
        if job.key in failed_jobs:
            return failed_result(run, job.stage, failed_jobs[job.key],
                                 time.perf_counter() - start)
        try:
            with project_lock(job.workspace, f"danlu ablate {plan.spec.name} "
                                             f"({run.variant}, seed {run.seed})"):
                job.link_upstream()  # under the lock: concurrent variants may share the workspace
                run_stage_job(job, parent_run_id)
        except Exception as exc:  # noqa: BLE001: the run fails, the ablation goes on
            log.error("ablation %s: %s seed %d: %s failed: %s", plan.spec.name, run.variant,
                      run.seed, job.stage, one_line(exc))
            failed_jobs[job.key] = one_line(exc)
            return failed_result(run, job.stage, one_line(exc), time.perf_counter() - start)
    try:
        result = run_result(run, plan.params_path, plan.task_patterns,
                            time.perf_counter() - start)
        seen = result["metrics"]["tokens_seen"]
        if seen != plan.tokens:
            raise DataError(f"{run.pretrain.folder}: trained on {seen:,} tokens, not the "
                            f"ablation's {plan.tokens:,}")
    except Exception as exc:  # noqa: BLE001
        log.error("ablation %s: %s seed %d: scoring failed: %s", plan.spec.name, run.variant,
                  run.seed, one_line(exc))
        return failed_result(run, "score", one_line(exc), time.perf_counter() - start)
    return result
