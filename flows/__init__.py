"""Prefect flows: the parent flow `danlu-pipeline` and one subflow per stage."""

import logging
import os

from danlu.environment import apply_quiet_defaults

# Library logs (logger "danlu") go into the flow run logs; set before prefect is imported.
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "danlu")
# No telemetry, no transformers bars flooding the flow logs: also for a flow run that a
# worker started without the danlu command around it.
apply_quiet_defaults()
# The embedded server can take ~20 s to start on a cold two-core machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# Prefect attaches its API handler to "danlu" but leaves its level to the root's (WARNING): in
# a flow run that a worker started (no danlu CLI around it), the stage's INFO lines would go.
if logging.getLogger("danlu").level == logging.NOTSET:
    logging.getLogger("danlu").setLevel(logging.INFO)
