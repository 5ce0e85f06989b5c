"""The team run as a person sees it, in headless Chromium with the credentials their browser
holds: the pipeline's flow run and its subflows and the summary artifact in the Prefect UI, the
registered model and the runs table in the MLflow UI. A screenshot of each is kept in
$DANLU_SCREENSHOTS (default: the test's temporary folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from browser import CHROMIUM, Browser, basic_auth

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium; .ci/run does)")]


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("DANLU_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def parent_run(team_run):
    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(
            any_=["danlu-pipeline"])))
    return next(r for r in runs
                if r.parameters["params_path"] == str(team_run["project"] / "params.yaml"))


def artifact(flow_run_id, key: str) -> str:
    """The id of the artifact `key` that this flow run published."""
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
    from prefect.client.schemas.filters import ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[key]),
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    assert len(found) == 1, found
    return str(found[0].id)


def test_prefect_ui_shows_the_run_its_subflows_and_the_summary(team_env, team_run, browser,
                                                               shots):
    ui = team_env.prefect_url.removesuffix("/api")
    auth = basic_auth(team_env.prefect_auth)
    parent = parent_run(team_run)
    browser.open(f"{ui}/runs/flow-run/{parent.id}", auth)
    browser.wait_for(parent.name, "Completed")
    assert browser.screenshot(shots / "prefect-flow-run.png").stat().st_size > 20_000
    browser.open(f"{ui}/runs", auth)
    browser.wait_for(parent.name, *(f"danlu-{s}" for s in team_run["stages"]))
    browser.screenshot(shots / "prefect-runs.png")
    summary = artifact(parent.id, "danlu-pipeline-summary")
    browser.open(f"{ui}/artifacts/artifact/{summary}", auth)
    text = browser.wait_for("danlu pipeline run", "pretrain", "MLflow")
    assert "Traceback" not in text
    browser.screenshot(shots / "prefect-summary.png")


def test_mlflow_ui_shows_the_registered_model_and_the_runs(team_env, team_run, browser, shots):
    from mlflow import MlflowClient

    auth = basic_auth(f"admin:{team_env.mlflow_admin_password}")
    browser.open(f"{team_env.mlflow_url}/#/models/danlu-base", auth)
    browser.wait_for("danlu-base", "Version 1", "candidate")
    assert browser.screenshot(shots / "mlflow-model.png").stat().st_size > 20_000
    experiment = MlflowClient().get_experiment_by_name("danlu").experiment_id
    browser.open(f"{team_env.mlflow_url}/#/experiments/{experiment}/runs"
                 "?workflowType=machine_learning", auth)
    # the runs table (stage runs folded under the pipeline's), not an empty Traces page
    browser.wait_for("pipeline", "matching runs")
    browser.screenshot(shots / "mlflow-runs.png")
