"""One Prefect subflow per stage, each a thin wrapper of danlu.pipeline.run_stage.
Subflows get the params path, overrides and run ids, never large objects."""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow, get_run_logger, runtime
from prefect.artifacts import create_markdown_artifact
from prefect.states import Completed, Failed

from danlu.config.load import load_config
from danlu.runners import shard_runner
from danlu.errors import DanluError, one_line
from danlu.pipeline import ORDER, run_stage
from danlu.tracking.links import NOTE_TAG
from danlu.train.step_hook import step_hook
from flows.labels import run_labels, tag_this_flow_run
from flows.progress import ProgressArtifact
from flows.shards import prefect_shard_runner


def flow_run_note() -> dict[str, str]:
    """An MLflow run's description (Markdown in MLflow's UI): a link to this flow run."""
    from prefect.utilities.urls import url_for

    # not runtime.flow_run.ui_url: its /flow-runs/ path is no page of Prefect 3.8's UI
    url = url_for("flow-run", obj_id=runtime.flow_run.id)
    name = f"Prefect flow run `{runtime.flow_run.name}`"
    return {NOTE_TAG: f"[{name}]({url})" if url else f"{name} ({runtime.flow_run.id})"}


def _subflow(name: str):
    @flow(name=f"danlu-{name}", description=f"danlu stage: {name}")
    def stage_flow(params_path: str, overrides: list[str], parent_run_id: str | None = None,
                   force: bool = False) -> dict:
        try:
            cfg = load_config(params_path, overrides)
            tag_this_flow_run(run_labels(cfg))  # on a work pool, the caller's tags stay behind
            run_tags = {"danlu.flow_run_id": str(runtime.flow_run.id), **flow_run_note()}
            with shard_runner(prefect_shard_runner), step_hook(ProgressArtifact(name)):
                record = asdict(run_stage(name, cfg, parent_run_id=parent_run_id, force=force,
                                          run_tags=run_tags))
        except DanluError as exc:  # its message says it all: no engine traceback
            get_run_logger().error("%s: %s", name, exc)
            return Failed(message=one_line(exc), data=exc)
        if name in MARKDOWN_ARTIFACTS:
            _publish_markdown(cfg, name)
        if record["cached"]:  # the caller still gets the record
            return Completed(name="Reused", data=record,
                             message=f"{name}: outputs unchanged since MLflow run "
                                     f"{record['run_id']}; reused")
        return record

    return stage_flow


# stage -> (its Markdown output, the artifact's key, description)
MARKDOWN_ARTIFACTS = {
    "curate": ("stats.md", "danlu-curate-stats", "curate: documents and bytes removed per step"),
    "evaluate": ("report.md", "danlu-report-card",
                 "the report card: every task on every model, the champion gate, the stages "
                 "(its plots are in outputs/evaluate and the MLflow run)"),
}


def _publish_markdown(cfg, name: str) -> None:
    """A stage's Markdown output as a Prefect artifact (also when the stage was reused: it
    still describes the outputs in place)."""
    filename, key, description = MARKDOWN_ARTIFACTS[name]
    path = cfg.out_dir(name) / filename
    if path.exists():
        create_markdown_artifact(markdown=path.read_text(encoding="utf-8"), key=key,
                                 description=description)


SUBFLOWS = {name: _subflow(name) for name in ORDER}
# Module-level names, so that a deployment can point at a stage (flows/stages.py:pretrain_flow).
# The stages that `train.work_pool` hands to a GPU pool's worker (`danlu deploy` deploys them).
GPU_STAGES = ("pretrain", "sft", "reward", "dpo")
pretrain_flow = SUBFLOWS["pretrain"]
sft_flow = SUBFLOWS["sft"]
reward_flow = SUBFLOWS["reward"]
dpo_flow = SUBFLOWS["dpo"]


def run_on_pool(name: str, pool: str, params_path: str, overrides: list[str],
                parent_run_id: str | None, force: bool, timeout: float | None = None) -> dict:
    """The stage as a run of its deployment `danlu-<name>/<pool>` (made by `danlu deploy`),
    picked up by that pool's worker; waits for it, then reads its record from the outputs,
    which the worker's machine shares with this one. A child that does not complete fails the
    caller (Prefect would not). `timeout` (seconds; None = as long as it takes) bounds the wait."""
    from prefect.deployments import run_deployment

    from danlu.pipeline import last_record

    run = run_deployment(f"danlu-{name}/{pool}", timeout=timeout, parameters={
        "params_path": params_path, "overrides": overrides, "parent_run_id": parent_run_id,
        "force": force})
    if not run.state or not run.state.is_completed():
        state = run.state.name if run.state else "no state"
        message = run.state.message if run.state else ""
        raise RuntimeError(f"stage {name} on work pool {pool!r}: flow run {run.id} ended "
                           f"{state}: {message}")
    return asdict(last_record(load_config(params_path, overrides), name))
