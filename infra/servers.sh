#!/usr/bin/env bash
# Start the Prefect UI/API and the MLflow UI on this machine (127.0.0.1 only), reading the same
# stores that `danlu run` writes: Prefect's database in $PREFECT_HOME, MLflow's mlflow.db.
# Stop with Ctrl-C. Ports: PREFECT_PORT (4200), MLFLOW_PORT (5000).
set -euo pipefail
cd "$(dirname "$0")/.."
PREFECT_PORT="${PREFECT_PORT:-4200}"
MLFLOW_PORT="${MLFLOW_PORT:-5000}"
HOST="${DANLU_HOST:-127.0.0.1}"

prefect server start --host "$HOST" --port "$PREFECT_PORT" &
prefect_pid=$!
mlflow server --host "$HOST" --port "$MLFLOW_PORT" \
  --backend-store-uri "sqlite:///$PWD/mlflow.db" --default-artifact-root "$PWD/mlartifacts" &
mlflow_pid=$!
trap 'kill "$prefect_pid" "$mlflow_pid" 2>/dev/null; wait' INT TERM EXIT
echo "Prefect UI: http://$HOST:$PREFECT_PORT   MLflow UI: http://$HOST:$MLFLOW_PORT"
echo "To send flow runs to this Prefect server: export PREFECT_API_URL=http://$HOST:$PREFECT_PORT/api"
wait
