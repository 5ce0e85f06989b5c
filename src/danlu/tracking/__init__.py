"""Tracking: the Tracker interface stage code logs to (tracker.py), what a stage returns to the
runner (outcome.py), MLflow runs by explicit id (mlflow_runs.py), lineage tags (lineage.py)
and the model registry (registry.py)."""
