#!/usr/bin/env bash
# One PostgreSQL server, one role and one database per service: prefect (the Prefect server),
# mlflow (MLflow's tracking and registry store) and mlflow_auth (MLflow's basic-auth users and
# permissions, owned by the mlflow role). The postgres image runs this once, when its data
# volume is empty; later password changes are made with ALTER ROLE, not here.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v prefect_password="$POSTGRES_PREFECT_PASSWORD" -v mlflow_password="$POSTGRES_MLFLOW_PASSWORD" <<'SQL'
CREATE ROLE prefect LOGIN PASSWORD :'prefect_password';
CREATE ROLE mlflow LOGIN PASSWORD :'mlflow_password';
CREATE DATABASE prefect OWNER prefect;
CREATE DATABASE mlflow OWNER mlflow;
CREATE DATABASE mlflow_auth OWNER mlflow;
REVOKE ALL ON DATABASE prefect FROM PUBLIC;
REVOKE ALL ON DATABASE mlflow FROM PUBLIC;
REVOKE ALL ON DATABASE mlflow_auth FROM PUBLIC;
SQL
