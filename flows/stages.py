"""One Prefect subflow per stage, each a thin wrapper of danlu.pipeline.run_stage.
Subflows get the params path, overrides and run ids, never large objects."""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow

from danlu.config import load_config
from danlu.pipeline import ORDER, run_stage


def _subflow(name: str):
    @flow(name=f"danlu-{name}", description=f"danlu stage: {name}")
    def stage_flow(params_path: str, overrides: list[str], parent_run_id: str | None = None,
                   force: bool = False) -> dict:
        cfg = load_config(params_path, overrides)
        return asdict(run_stage(name, cfg, parent_run_id=parent_run_id, force=force))

    return stage_flow


SUBFLOWS = {name: _subflow(name) for name in ORDER}
