"""Prefect flows: the parent flow `danlu-pipeline` and one subflow per stage."""

import logging
import os

# Library logs (logger "danlu") go into the flow run logs; set before prefect is imported.
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "danlu")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# No usage telemetry (offline it only prints failures): Prefect's client, MLflow.
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# The embedded server can take ~20 s to start on a cold two-core machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# Weight loading/saving bars of transformers would flood the flow logs.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
# Prefect attaches its API handler to "danlu" but leaves its level to the root's (WARNING): in
# a flow run that a worker started (no danlu CLI around it), the stage's INFO lines would go.
if logging.getLogger("danlu").level == logging.NOTSET:
    logging.getLogger("danlu").setLevel(logging.INFO)
