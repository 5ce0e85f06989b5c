# MLflow's tracking server for the team setup: the official image of the version the project
# pins (3.17.2), plus what it lacks for infra/compose.yaml: the PostgreSQL driver, boto3 for the
# S3 artifact store and Flask-WTF for `--app-name basic-auth`. Same pins as requirements.lock.
FROM ghcr.io/mlflow/mlflow:v3.17.2

RUN python -m pip install --no-cache-dir --disable-pip-version-check \
        mlflow==3.17.2 psycopg2-binary==2.9.13 boto3==1.43.117 Flask-WTF==1.3.0 \
    && useradd --system --uid 10002 --home-dir /nonexistent --shell /usr/sbin/nologin mlflow

USER mlflow
