from pathlib import Path

import pytest

from danlu.config import load_config
from danlu.tracking.lineage import data_hash, git_commit, lineage_tags
from danlu.tracking.mlflow_runs import PARENT_TAG, client, tracked_run, tracking_uri


@pytest.fixture(scope="module")
def cfg(tmp_path_factory, repo_root: Path):
    """One MLflow store for the module: creating its database takes seconds."""
    root = tmp_path_factory.mktemp("project")
    (root / "params.yaml").write_text((repo_root / "params.yaml").read_text())
    return load_config(root / "params.yaml")


def test_relative_sqlite_uri_is_anchored_at_the_project(cfg):
    assert tracking_uri(cfg) == f"sqlite:///{cfg.root}/mlflow.db"


def test_each_project_keeps_its_own_store_in_one_process(cfg, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    client(cfg)
    (tmp_path / "params.yaml").write_text((cfg.root / "params.yaml").read_text())
    other = load_config(tmp_path / "params.yaml")
    assert tracking_uri(other) == f"sqlite:///{tmp_path}/mlflow.db"


def test_nested_stage_runs_under_a_parent_with_metrics_by_step(cfg):
    with tracked_run(cfg, "pipeline") as parent:
        with tracked_run(cfg, "pretrain", parent_run_id=parent.run_id) as child:
            child.log_params({"preset": "tiny"})
            for step, loss in enumerate([3.0, 2.5, 2.0]):
                child.log_metrics({"pretrain/loss": loss}, step=step)
            child.log_dict({"a": 1}, "stats.json")
    c = client(cfg)
    run = c.get_run(child.run_id)
    assert run.data.tags[PARENT_TAG] == parent.run_id
    assert run.data.params["preset"] == "tiny"
    assert run.info.status == "FINISHED"
    history = c.get_metric_history(child.run_id, "pretrain.loss")
    assert [(m.step, m.value) for m in history] == [(0, 3.0), (1, 2.5), (2, 2.0)]
    assert [a.path for a in c.list_artifacts(child.run_id)] == ["stats.json"]
    exp = c.get_experiment_by_name(cfg.tracking.experiment)
    assert exp.artifact_location == (cfg.root / "mlartifacts").as_uri()


def test_a_failing_stage_marks_its_run_failed_and_keeps_its_curve(cfg):
    """Metrics by step go in batches; the run's end, failed or not, sends what is pending."""
    with pytest.raises(RuntimeError):
        with tracked_run(cfg, "curate") as run:
            for step in range(run.FLUSH_EVERY + 3):
                run.log_metrics({"loss": float(step)}, step=step)
            assert len(run._pending) == 3  # one batch sent, three waiting
            raise RuntimeError("boom")
    c = client(cfg)
    assert c.get_run(run.run_id).info.status == "FAILED"
    assert len(c.get_metric_history(run.run_id, "loss")) == run.FLUSH_EVERY + 3


def test_lineage_outside_git_and_without_data_dvc(cfg):
    assert git_commit(cfg.root) == "unknown"
    assert data_hash(cfg.root) == "untracked"
    tags = lineage_tags(cfg)
    assert tags["params_hash"] == cfg.section_hash() and len(tags["params_hash"]) == 16


def test_data_hash_reads_data_dvc(tmp_path: Path):
    (tmp_path / "data.dvc").write_text("outs:\n- md5: abc123.dir\n  path: data\n")
    assert data_hash(tmp_path) == "abc123.dir"


def test_final_metrics_go_to_the_last_step_not_the_start_of_a_curve(cfg):
    with tracked_run(cfg, "pretrain") as run:
        for step in range(3):
            run.log_metrics({"pretrain/val_loss": 3.0 - step}, step=step)
        run.log_metrics({"val_loss": 1.0})
    c = client(cfg)
    assert [(m.step, m.value) for m in c.get_metric_history(run.run_id, "val_loss")] == [(2, 1.0)]
    curve = c.get_metric_history(run.run_id, "pretrain.val_loss")
    assert [m.step for m in curve] == [0, 1, 2]


def test_system_metrics_are_sampled_into_the_run(cfg, monkeypatch):
    import time

    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")
    with tracked_run(cfg, "pretrain", with_system_metrics=True) as run:
        time.sleep(1.5)
    metrics = client(cfg).get_run(run.run_id).data.metrics
    assert metrics["system/cpu_utilization_percentage"] >= 0
    assert metrics["system/system_memory_usage_megabytes"] > 0


def test_a_run_shorter_than_one_sample_still_gets_system_metrics(cfg):
    with tracked_run(cfg, "pretrain", with_system_metrics=True) as run:  # 10 s interval
        pass
    history = client(cfg).get_metric_history(run.run_id, "system/system_memory_usage_megabytes")
    assert len(history) == 1 and history[0].value > 0


def test_the_experiment_opens_on_its_runs_table(cfg):
    from danlu.tracking.mlflow_runs import experiment_id

    exp = client(cfg).get_experiment(experiment_id(cfg))
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
