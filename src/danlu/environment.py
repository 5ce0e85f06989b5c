"""danlu's environment defaults, quiet and offline-safe: no usage telemetry from Prefect's client
and server or from MLflow (offline they only print failures), and no per-file bars from
transformers or MLflow next to danlu's own progress. Each is a default: a value set in the environment
wins. The `danlu` command and the Prefect flows (which a worker may start without the command)
both apply them before Prefect or MLflow is imported."""

from __future__ import annotations

import os

QUIET_DEFAULTS = {
    "DO_NOT_TRACK": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # a bar per download (danlu chat models:/)
}


def apply_quiet_defaults() -> None:
    for key, value in QUIET_DEFAULTS.items():
        os.environ.setdefault(key, value)
