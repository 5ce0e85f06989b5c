"""MLflow runs: one parent run per pipeline run, a nested run per stage, all by explicit run id
(no global active run), so stages can run in Prefect worker threads or separate processes."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from danlu.config import Config
from danlu.errors import TrackingError

log = logging.getLogger("danlu.tracking")

PARENT_TAG = "mlflow.parentRunId"


def tracking_uri(cfg: Config) -> str:
    """MLFLOW_TRACKING_URI when set (a team's server, as MLflow's own clients read it), else the
    configured URI, with a relative sqlite path anchored at the project root."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or cfg.tracking.uri
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix):].startswith("/"):
        return prefix + str(cfg.path(uri[len(prefix):]))
    if "://" not in uri:  # a bare folder or file path
        return str(cfg.path(uri))
    return uri


def client(cfg: Config):
    import mlflow
    from mlflow import MlflowClient

    uri = tracking_uri(cfg)
    users = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    # set_tracking_uri exports MLFLOW_TRACKING_URI, which tracking_uri() takes for the user's
    # choice: the next project in this process (a served flow, a test) would log into this one
    if users is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = users
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def experiment_id(cfg: Config) -> str:
    """The experiment's id, created when new: with its artifacts under the project on a local
    store, where a tracking server puts them (its --artifacts-destination) on a server."""
    c = client(cfg)
    exp = c.get_experiment_by_name(cfg.tracking.experiment)
    if exp is not None:
        return exp.experiment_id
    location = None
    if not is_server(tracking_uri(cfg)):
        artifacts = cfg.path(cfg.tracking.artifacts)
        artifacts.mkdir(parents=True, exist_ok=True)
        location = artifacts.as_uri()
    try:
        # the UI then opens the experiment on its runs table, not on GenAI traces
        return c.create_experiment(cfg.tracking.experiment, artifact_location=location,
                                   tags={"mlflow.experimentKind": "custom_model_development"})
    except Exception:  # created meanwhile by another process: read it back
        exp = c.get_experiment_by_name(cfg.tracking.experiment)
        if exp is None:
            raise
        return exp.experiment_id


class MlflowTracker:
    """The Tracker interface over one MLflow run. Metrics by step (a loss curve: a few per
    training step) are sent in batches of FLUSH_EVERY; `flush` (end_run calls it) sends the
    rest."""

    FLUSH_EVERY = 500  # metrics per request (MLflow takes up to 1,000)

    def __init__(self, cfg: Config, run_id: str):
        self.cfg = cfg
        self.run_id = run_id
        self._client = client(cfg)
        self._pending: list = []
        self._last_step = 0

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in sorted(params.items())]
        for i in range(0, len(items), 100):
            self._client.log_batch(self.run_id, params=items[i:i + 100])

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """By step: a curve. Without one: the run's final numbers, at the last step logged so
        far, so that a curve never starts from a final value."""
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        if step is not None:
            self._last_step = max(self._last_step, step)
        at = self._last_step if step is None else step
        self._pending += [Metric(k.replace("/", "."), float(v), now, at)
                          for k, v in metrics.items() if v is not None]
        if step is None or len(self._pending) >= self.FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:self.FLUSH_EVERY], self._pending[self.FLUSH_EVERY:]
            self._client.log_batch(self.run_id, metrics=batch)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        path = Path(path)
        if path.is_dir():
            self._client.log_artifacts(self.run_id, str(path), artifact_path)
        else:
            self._client.log_artifact(self.run_id, str(path), artifact_path)

    def log_dict(self, data: dict, name: str) -> None:
        self._client.log_dict(self.run_id, data, name)

    def set_tags(self, tags: dict[str, str]) -> None:
        for k, v in tags.items():
            self._client.set_tag(self.run_id, k, str(v))


def start_run(cfg: Config, name: str, *, parent_run_id: str | None = None,
              tags: dict[str, str] | None = None) -> MlflowTracker:
    all_tags = dict(tags or {})
    if parent_run_id:
        all_tags[PARENT_TAG] = parent_run_id
    try:
        run = client(cfg).create_run(experiment_id(cfg), run_name=name, tags=all_tags)
    except Exception as exc:
        raise TrackingError(f"MLflow at {tracking_uri(cfg)}: cannot start run {name!r}: {exc}") \
            from exc
    return MlflowTracker(cfg, run.info.run_id)


def end_run(tracker: MlflowTracker, status: str = "FINISHED") -> None:
    tracker.flush()
    tracker._client.set_terminated(tracker.run_id, status=status)


@contextmanager
def system_metrics(cfg: Config, run_id: str) -> Iterator[None]:
    """MLflow's system/* metrics (CPU, memory, disk, network; GPU when pynvml is installed)
    sampled into the run meanwhile (every 10 s; MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL). A run
    that ends before the monitor's first sample is published still gets one, taken at the end."""
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)  # no start/stop lines
    monitor = SystemMetricsMonitor(run_id, tracking_uri=tracking_uri(cfg))
    monitor.start()
    try:
        yield
    finally:
        monitor.finish()
        if monitor._logging_step == 0:  # nothing published yet: the body was shorter than a sample
            monitor.collect_metrics()
            monitor.publish_metrics(monitor.aggregate_metrics())
            monitor.mlflow_logger.flush()


@contextmanager
def tracked_run(cfg: Config, name: str, *, parent_run_id: str | None = None,
                tags: dict[str, str] | None = None,
                with_system_metrics: bool = False) -> Iterator[MlflowTracker]:
    """A run that ends FINISHED, or FAILED when the body raises."""
    tracker = start_run(cfg, name, parent_run_id=parent_run_id, tags=tags)
    try:
        if with_system_metrics:
            with system_metrics(cfg, tracker.run_id):
                yield tracker
        else:
            yield tracker
    except BaseException:
        end_run(tracker, "FAILED")
        raise
    end_run(tracker, "FINISHED")
