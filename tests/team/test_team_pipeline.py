"""A tiny pipeline run by a team member's shell (PREFECT_API_URL, MLFLOW_TRACKING_URI and their
credentials exported) against the real servers, checked through their own clients: flow runs
and subflows, artifacts, MLflow runs, the registered version with its alias and lineage, the
model's files in the S3 bucket; no credential anywhere in what was logged; no pickle."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow



def test_flow_runs_subflows_and_artifacts_are_on_the_server(team_env, team_run):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowFilter
    from prefect.client.schemas.filters import FlowFilterName, FlowRunFilter
    from prefect.client.schemas.filters import FlowRunFilterParentFlowRunId

    with get_client(sync_client=True) as client:
        parents = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(
            any_=["danlu-pipeline"])))
        parent = next(r for r in parents
                      if r.parameters["params_path"] == str(team_run["project"] / "params.yaml"))
        assert parent.state.is_completed()
        assert f"project:{team_run['project'].name}" in parent.tags
        children = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent.id])))
        flows = {client.read_flow(c.flow_id).name: c for c in children}
        assert sorted(flows) == sorted(f"danlu-{s}" for s in team_run["stages"])
        assert all(c.state.is_completed() for c in children)
        keys = {a.key for a in client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["danlu-pipeline-summary", "danlu-curate-stats"])))}
        assert keys == {"danlu-pipeline-summary", "danlu-curate-stats"}


def test_mlflow_has_the_runs_the_version_its_alias_and_lineage(team_env, team_run):
    from mlflow import MlflowClient

    client = MlflowClient()
    experiment = client.get_experiment_by_name("danlu")
    assert experiment.artifact_location.startswith("mlflow-artifacts:")  # served, not local
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if r.info.run_name == "pipeline")
    nested = {r.info.run_name for r in runs
              if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert set(team_run["stages"]) <= nested
    base = client.get_model_version_by_alias("danlu-base", "candidate")
    assert base.tags["params_hash"] and base.tags["git_commit"] and base.tags["weights_sha256"]
    assert client.get_run(base.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id


def test_the_registered_model_is_in_the_s3_bucket_and_downloads(team_env, team_run, tmp_path):
    import boto3
    import mlflow

    s3 = boto3.client("s3", endpoint_url=team_env.s3_url)
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="mlflow")
            for o in page.get("Contents", [])]
    assert any(k.endswith("model.safetensors") for k in keys), keys[:20]
    local = Path(mlflow.artifacts.download_artifacts("models:/danlu-base@candidate",
                                                     dst_path=str(tmp_path)))
    assert list(local.rglob("model.safetensors"))


def test_no_credential_is_in_logs_params_or_tags(team_env, team_run):
    from mlflow import MlflowClient
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter

    secrets = [team_env.mlflow_admin_password, team_env.prefect_auth.split(":", 1)[1],
               "danlu-test-secret"]
    client = MlflowClient()
    experiment = client.get_experiment_by_name("danlu")
    logged = [team_run["output"]]
    for run in client.search_runs([experiment.experiment_id]):
        logged += [f"{k}={v}" for k, v in {**run.data.params, **run.data.tags}.items()]
    for version in client.search_model_versions("name = 'danlu-base'"):
        logged += [f"{k}={v}" for k, v in version.tags.items()] + [version.source]
    with get_client(sync_client=True) as prefect:
        logged += [log.message for log in prefect.read_logs(LogFilter(), limit=200)]
        logged += [str(r.parameters) for r in prefect.read_flow_runs()]
    assert len(logged) > 50 and any(line.startswith("params_hash=") for line in logged)
    leaks = [line for line in logged for s in secrets if s in line]
    assert not leaks, leaks[:5]


def pickles(folder: Path) -> list[Path]:
    """Files that are pickles: named so (.pkl, .pickle), or, whatever their name, starting with
    pickle's protocol opcode (torch.save's legacy format too) or a zip holding a .pkl (the
    format of torch.save, .pt/.bin/.ckpt). Token shards (.bin, DANLUTOK header) are not."""
    import zipfile

    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        head = path.open("rb").read(2)
        is_pickle = head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")
        if zipfile.is_zipfile(path):
            is_pickle |= any(n.endswith(".pkl") for n in zipfile.ZipFile(path).namelist())
        if is_pickle or path.suffix in (".pkl", ".pickle"):
            found.append(path)
    return found


def test_no_pickle_in_outputs_checkpoints_or_registered_models(team_env, team_run, tmp_path):
    import mlflow

    outputs = team_run["project"] / "outputs"
    assert list(outputs.rglob("*.safetensors"))  # the model and its checkpoints were written
    assert not pickles(outputs)
    model = Path(mlflow.artifacts.download_artifacts("models:/danlu-base@candidate",
                                                     dst_path=str(tmp_path)))
    assert not pickles(model)


def test_the_pickle_scan_finds_a_torch_save(tmp_path):
    import torch

    import pickle

    torch.save({"w": torch.zeros(2)}, tmp_path / "a.safetensors")  # a lying name
    torch.save({"w": torch.zeros(2)}, tmp_path / "b.bin", _use_new_zipfile_serialization=False)
    (tmp_path / "c.dat").write_bytes(pickle.dumps({"w": [0.0]}))
    (tmp_path / "ok.json").write_text("{}")
    (tmp_path / "shard.bin").write_bytes(b"DANLUTOK" + bytes(56))
    assert pickles(tmp_path) == [tmp_path / n for n in ("a.safetensors", "b.bin", "c.dat")]
