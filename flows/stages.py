"""One Prefect subflow per stage, each a thin wrapper of danlu.pipeline.run_stage.
Subflows get the params path, overrides and run ids, never large objects."""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from danlu.config import load_config
from danlu.curate.execute import shard_runner
from danlu.pipeline import ORDER, out_dir, run_stage
from flows.shards import prefect_shard_runner


def _subflow(name: str):
    @flow(name=f"danlu-{name}", description=f"danlu stage: {name}")
    def stage_flow(params_path: str, overrides: list[str], parent_run_id: str | None = None,
                   force: bool = False) -> dict:
        cfg = load_config(params_path, overrides)
        with shard_runner(prefect_shard_runner):
            record = asdict(run_stage(name, cfg, parent_run_id=parent_run_id, force=force))
        if name == "curate":
            _publish_curate_stats(cfg)
        return record

    return stage_flow


def _publish_curate_stats(cfg) -> None:
    """The per-step table of stats.md as a Prefect artifact (also when the stage was cached:
    it still describes the outputs in place)."""
    from danlu.curate.stage import STATS_MARKDOWN

    path = out_dir(cfg, "curate") / STATS_MARKDOWN
    if path.exists():
        create_markdown_artifact(markdown=path.read_text(encoding="utf-8"), key="danlu-curate-stats",
                                 description="curate: documents and bytes removed per step")


SUBFLOWS = {name: _subflow(name) for name in ORDER}
