"""One Prefect subflow per stage; each wraps danlu.pipeline.run_stage in a retriable task.
Tasks get the params path, overrides and run ids, never large objects."""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow, task

from danlu.config import load_config
from danlu.pipeline import ORDER, run_stage


@task(name="run-stage", retries=0)
def stage_task(name: str, params_path: str, overrides: list[str], parent_run_id: str | None,
               force: bool) -> dict:
    cfg = load_config(params_path, overrides)
    return asdict(run_stage(name, cfg, parent_run_id=parent_run_id, force=force))


def _subflow(name: str):
    @flow(name=f"danlu-{name}", description=f"danlu stage: {name}")
    def stage_flow(params_path: str, overrides: list[str], parent_run_id: str | None = None,
                   force: bool = False) -> dict:
        return stage_task.with_options(name=f"{name}")(name, params_path, overrides,
                                                        parent_run_id, force)

    return stage_flow


SUBFLOWS = {name: _subflow(name) for name in ORDER}
