"""Real servers on loopback for the team-setup tests: a PostgreSQL database per test run, an
S3-compatible server (moto's), `prefect server` on PostgreSQL with an auth string, and
`mlflow server` on PostgreSQL with basic-auth and artifacts served from S3. Each is a
subprocess in its own process group; `stop` ends the group and drops the databases."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PG = os.environ.get("DANLU_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_available() -> str | None:
    """None when PostgreSQL answers at PG, else why not."""
    try:
        import psycopg2
    except ImportError as exc:  # the `team` extra
        return f"psycopg2 missing ({exc})"
    try:
        psycopg2.connect(PG + "/postgres", connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        return f"PostgreSQL not reachable at {PG}: {str(exc).strip()}"
    return None


def psycopg2_uri(db: str) -> str:
    """SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; the team extra has psycopg2."""
    return PG.replace("postgresql://", "postgresql+psycopg2://", 1) + "/" + db


def _admin(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(PG + "/postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def create_database(prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def dropped_on_failure(databases: list[str]):
    try:
        yield
    except BaseException:
        for db in databases:
            drop_database(db)
        raise


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen
    log: Path
    databases: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        for db in self.databases:
            drop_database(db)


def start(name: str, argv: list[str], env: dict, health: str, log_dir: Path,
          timeout: float = 180, ok=(200,), headers: dict | None = None) -> subprocess.Popen:
    """Start argv in a new session (its children die with `stop`); wait until `health` answers."""
    log = log_dir / f"{name}.log"
    process = subprocess.Popen(argv, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                               start_new_session=True, cwd=log_dir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n"
                               + log.read_text(errors="replace")[-3000:])
        try:
            request = urllib.request.Request(health, headers=headers or {})
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status in ok:
                    return process
        except urllib.error.HTTPError as exc:
            if exc.code in ok:
                return process
        except OSError:
            pass
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError(f"{name} not healthy at {health} after {timeout:.0f} s:\n"
                       + log.read_text(errors="replace")[-3000:])


def base_env() -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PREFECT_", "MLFLOW_", "AWS_"))}
    env.update(DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PATH=f"{BIN}:{env.get('PATH', '')}")
    return env


S3_KEYS = {"AWS_ACCESS_KEY_ID": "danlu-test", "AWS_SECRET_ACCESS_KEY": "danlu-test-secret",
           "AWS_DEFAULT_REGION": "us-east-1"}


def start_s3(log_dir: Path) -> Server:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start("s3", [str(BIN / "python"), "-m", "moto.server", "-H", "127.0.0.1",
                           "-p", str(port)], base_env(), f"{url}/moto-api/", log_dir)
    return Server("s3", url, process, log_dir / "s3.log")


def make_bucket(s3_url: str, bucket: str) -> None:
    import boto3

    boto3.client("s3", endpoint_url=s3_url, **{k.lower(): v for k, v in S3_KEYS.items()
                                               if k != "AWS_DEFAULT_REGION"},
                 region_name=S3_KEYS["AWS_DEFAULT_REGION"]).create_bucket(Bucket=bucket)


def start_prefect(log_dir: Path, auth_string: str) -> Server:
    db = create_database("danlu_prefect")
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    home = log_dir / "prefect-home"
    env = base_env() | {
        "PREFECT_HOME": str(home),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"{PG.replace('postgresql://', 'postgresql+asyncpg://')}/{db}",
        "PREFECT_SERVER_API_AUTH_STRING": auth_string,
        "PREFECT_SERVER_CSRF_PROTECTION_ENABLED": "true",
        "PREFECT_SERVER_CORS_ALLOWED_ORIGINS": f"http://127.0.0.1:{port}",
        "PREFECT_UI_API_URL": url,
    }
    with dropped_on_failure([db]):
        process = start("prefect", [str(BIN / "prefect"), "server", "start", "--host",
                                    "127.0.0.1", "--port", str(port)], env, f"{url}/health",
                        log_dir)
    return Server("prefect", url, process, log_dir / "prefect.log", [db])


def start_mlflow(log_dir: Path, s3_url: str, bucket: str, admin_password: str,
                 secret_key: str) -> Server:
    db, auth_db = create_database("danlu_mlflow"), create_database("danlu_mlflow_auth")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    ini = log_dir / "basic_auth.ini"
    ini.write_text("[mlflow]\ndefault_permission = NO_PERMISSIONS\n"
                   f"database_uri = {psycopg2_uri(auth_db)}\nadmin_username = admin\n"
                   "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
    env = base_env() | S3_KEYS | {
        "MLFLOW_S3_ENDPOINT_URL": s3_url,
        "MLFLOW_AUTH_CONFIG_PATH": str(ini),
        "MLFLOW_AUTH_ADMIN_PASSWORD": admin_password,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secret_key,
    }
    with dropped_on_failure([db, auth_db]):
        process = start("mlflow", [
        str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
            "--backend-store-uri", psycopg2_uri(db), "--serve-artifacts",
            "--artifacts-destination", f"s3://{bucket}/artifacts", "--app-name", "basic-auth",
            "--allowed-hosts", f"127.0.0.1:{port},localhost:{port}",
            "--cors-allowed-origins", f"http://127.0.0.1:{port}", "--workers", "1"],
            env, f"{url}/health", log_dir)
    return Server("mlflow", url, process, log_dir / "mlflow.log", [db, auth_db])
