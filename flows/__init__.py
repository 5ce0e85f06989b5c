"""Prefect flows: the parent flow `danlu-pipeline` and one subflow per stage."""

import os

# Library logs (logger "danlu") go into the flow run logs; set before prefect is imported.
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "danlu")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The embedded server can take ~20 s to start on a cold two-core machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# Weight loading/saving bars of transformers would flood the flow logs.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
