from pathlib import Path

from danlu.config import load_config
from danlu.tracking.links import experiment_url, run_url, ui_url


def test_links_go_to_the_configured_ui_for_a_local_store(tmp_path: Path, repo_root: Path,
                                                         monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "params.yaml").write_text((repo_root / "params.yaml").read_text())
    cfg = load_config(tmp_path / "params.yaml", ["tracking.ui_url=http://ui.example:5000/"])
    assert ui_url(cfg) == "http://ui.example:5000"
    assert run_url(cfg, "3", "abc") == "http://ui.example:5000/#/experiments/3/runs/abc"
    # MLflow 3 opens an experiment on its GenAI traces unless told the workflow type
    assert experiment_url(cfg, "3") == \
        "http://ui.example:5000/#/experiments/3/runs?workflowType=machine_learning"


def test_links_go_to_the_tracking_server_itself(tmp_path: Path, repo_root: Path, monkeypatch):
    (tmp_path / "params.yaml").write_text((repo_root / "params.yaml").read_text())
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.team.example")
    cfg = load_config(tmp_path / "params.yaml")
    assert run_url(cfg, "1", "r") == "https://mlflow.team.example/#/experiments/1/runs/r"
