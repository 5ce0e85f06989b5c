"""What the two UIs show of a pipeline run: Prefect's flow runs (tags, a Reused state, a summary
also when a stage fails, a progress artifact) and MLflow's runs (links both ways, no final value
at the start of a curve, no empty run for a reused stage, system metrics while training)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SMALL = ["model.context_length=32", "train.batch_size=4", "train.batch_tokens=128",
         "train.max_steps=4", "train.warmup_steps=1", "train.eval_every=2", "train.eval_batches=1",
         "train.checkpoint_every=0", "train.threads=1", "train.compile=false",
         "train.sample_tokens=0", "tracking.register_models=false"]


@pytest.fixture(scope="module")
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="module")
def project(tokenizer_stage_project) -> Path:
    """A git repository, so that runs are tagged with its commit."""
    root = tokenizer_stage_project("observed-project")
    for args in (["init", "-q"], ["add", "params.yaml"],
                 ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "params"]):
        subprocess.run(["git", *args], cwd=root, check=True)
    return root


@pytest.fixture(scope="module")
def runs(harness, project: Path) -> dict:
    """A first run of pretrain, then the same again (reused)."""
    import os

    from flows.pipeline import danlu_pipeline

    os.environ["MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL"] = "0.2"
    try:
        first = danlu_pipeline(str(project / "params.yaml"), SMALL, stages=["pretrain"])
    finally:
        del os.environ["MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL"]
    again = danlu_pipeline(str(project / "params.yaml"), SMALL, stages=["pretrain"])
    return {"first": first, "again": again}


def _client(project: Path):
    from danlu.config import load_config
    from danlu.tracking.mlflow_runs import client, experiment_id

    cfg = load_config(project / "params.yaml", SMALL)
    return cfg, client(cfg), experiment_id(cfg)


def _flow_runs(flow_name: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    async def read():
        async with get_client() as client:
            return await client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
                sort=FlowRunSort.START_TIME_ASC)

    return asyncio.run(read())


def _artifacts(key: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    async def read():
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
                sort=ArtifactSort.CREATED_DESC)

    return asyncio.run(read())


def test_final_metrics_do_not_start_the_curves(runs: dict, project: Path):
    _, c, _ = _client(project)
    stage_run = runs["first"]["stages"][0]["run_id"]
    curve = c.get_metric_history(stage_run, "pretrain.val_loss")
    assert [m.step for m in curve] == [2, 4]
    final = c.get_metric_history(stage_run, "val_loss")
    assert [(m.step, m.value) for m in final] == [(4, pytest.approx(curve[-1].value))]
    parent = c.get_run(runs["first"]["mlflow_run_id"]).data.metrics
    assert "pretrain.final.val_loss" in parent and "pretrain.val_loss" not in parent


def test_system_metrics_are_logged_while_training(runs: dict, project: Path):
    _, c, _ = _client(project)
    metrics = c.get_run(runs["first"]["stages"][0]["run_id"]).data.metrics
    assert "system/cpu_utilization_percentage" in metrics
    assert metrics["system/system_memory_usage_megabytes"] > 0


def test_a_reused_stage_is_a_reused_state_and_no_empty_mlflow_run(runs: dict, project: Path):
    from danlu.tracking.mlflow_runs import PARENT_TAG

    assert runs["again"]["stages"][0]["cached"]  # the parent still gets the record
    states = [r.state_name for r in _flow_runs("danlu-pretrain")]
    assert states == ["Completed", "Reused"]
    _, c, exp = _client(project)
    stage_runs = c.search_runs([exp], "tags.`danlu.stage` = 'pretrain'")
    assert len(stage_runs) == 1
    again = runs["again"]["mlflow_run_id"]
    assert not c.search_runs([exp], f"tags.`{PARENT_TAG}` = '{again}'")
    assert c.get_run(again).data.tags["danlu.reused"] == "pretrain"
    assert "| pretrain | reused |" in runs["again"]["markdown"]
    made_by = runs["first"]["stages"][0]["run_id"]  # the summary links the run that made them
    assert f"(http://127.0.0.1:5000/#/experiments/{exp}/runs/{made_by}) |" in \
        runs["again"]["markdown"]


def test_flow_runs_are_tagged_with_project_commit_and_params(runs: dict, project: Path):
    cfg, _, _ = _client(project)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True,
                         text=True, check=True).stdout.strip()
    expected = {f"project:{project.name}", f"commit:{sha[:8]}", f"params:{cfg.section_hash()}"}
    for name in ("danlu-pipeline", "danlu-pretrain"):
        for run in _flow_runs(name)[:2]:
            assert expected <= set(run.tags), (name, run.tags)


def test_a_stage_flow_started_alone_tags_itself(runs: dict, project: Path):
    """As a work pool's worker starts it: no caller's `prefect.tags` around it."""
    from flows.stages import SUBFLOWS

    cfg, _, _ = _client(project)
    assert SUBFLOWS["pretrain"](str(project / "params.yaml"), SMALL)["cached"]
    alone = _flow_runs("danlu-pretrain")[-1]
    assert {f"project:{project.name}", f"params:{cfg.section_hash()}"} <= set(alone.tags)


def test_the_uis_link_to_each_other(runs: dict, project: Path):
    from danlu.tracking.links import NOTE_TAG

    cfg, c, exp = _client(project)
    parent = runs["first"]["mlflow_run_id"]
    markdown = runs["first"]["markdown"]
    assert f"(http://127.0.0.1:5000/#/experiments/{exp}/runs/{parent})" in markdown
    assert f"(http://127.0.0.1:5000/#/experiments/{exp}/runs?workflowType=machine_learning)" \
        in markdown
    flow_run = _flow_runs("danlu-pipeline")[0]
    note = c.get_run(parent).data.tags[NOTE_TAG]
    assert note.startswith("[Prefect flow run") and note.endswith(f"/runs/flow-run/{flow_run.id})")
    stage_note = c.get_run(runs["first"]["stages"][0]["run_id"]).data.tags[NOTE_TAG]
    assert stage_note.endswith(f"/runs/flow-run/{_flow_runs('danlu-pretrain')[0].id})")


def test_training_steps_move_a_progress_artifact(runs: dict):
    (artifact, *_) = _artifacts("danlu-pretrain-progress")
    assert artifact.type == "progress" and float(artifact.data) == 100.0
    assert artifact.description == "pretrain: pretrain step 4 of 4"


def test_a_failed_stage_still_publishes_the_summary(runs: dict, project: Path):
    from danlu.errors import ConfigError
    from flows.pipeline import danlu_pipeline

    with pytest.raises(ConfigError, match="n_kv_head=3"):
        danlu_pipeline(str(project / "params.yaml"), [*SMALL, "model.n_kv_head=3"],
                       stages=["pretrain", "sft"])
    summary = _artifacts("danlu-pipeline-summary")[0].data
    assert "**Failed** in stage `pretrain`: model.n_kv_head=3 must divide" in summary
    assert "Never ran: `sft`" in summary and "| sft | not run |" in summary
    pipeline_run = _flow_runs("danlu-pipeline")[-1]
    assert pipeline_run.state_type.value == "FAILED"
    assert pipeline_run.state.message.startswith("stage pretrain failed: model.n_kv_head=3")
    _, c, exp = _client(project)
    parent = c.search_runs([exp], "attributes.run_name = 'pipeline'",
                           order_by=["attributes.start_time DESC"])[0]
    assert parent.info.status == "FAILED"


def test_a_bad_override_at_run_time_is_one_line_without_traceback(runs: dict, project: Path,
                                                                  monkeypatch, capfd):
    from danlu import cli

    monkeypatch.setattr(sys, "argv", ["danlu", "run", "--params", str(project / "params.yaml"),
                                      *(f"-S{o}" for o in SMALL), "-Smodel.n_kv_head=3",
                                      "--stages", "pretrain"])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 2
    out, err = capfd.readouterr()
    assert "config error: model.n_kv_head=3 must divide" in err
    assert "Traceback" not in out + err
