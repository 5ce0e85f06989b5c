"""Addresses of MLflow's UI pages, for links from elsewhere (the Prefect summary artifact)."""

from __future__ import annotations

from danlu.config import Config
from danlu.tracking.mlflow_runs import is_server, tracking_uri

NOTE_TAG = "mlflow.note.content"  # a run's description: MLflow's UI renders it as Markdown


def ui_url(cfg: Config) -> str:
    """The tracking server itself, or tracking.ui_url for a local store (an `mlflow server`
    over the same store, as infra/servers.sh starts)."""
    uri = tracking_uri(cfg)
    return (uri if is_server(uri) else cfg.tracking.ui_url).rstrip("/")


def run_url(cfg: Config, experiment_id: str, run_id: str) -> str:
    return f"{ui_url(cfg)}/#/experiments/{experiment_id}/runs/{run_id}"


def experiment_url(cfg: Config, experiment_id: str) -> str:
    """The experiment's runs table (without workflowType, MLflow 3 opens its GenAI traces)."""
    return f"{ui_url(cfg)}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
