"""The team stack's own commands, run here without Docker: PostgreSQL initialised by
infra/postgres/init-databases.sh, Redis with a password, Prefect's API (--no-services) and
background services with infra/compose.yaml's environment, a worker's health server, and MLflow's
basic-auth server with infra/mlflow/basic_auth.ini on S3 (moto standing in for RustFS).
Skips where the postgres or redis-server binaries are missing."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path

import pytest

from test_infra_files import INFRA, command, env_example, environment, interpolate, services

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SECRETS = {  # what a platform engineer puts into infra/.env
    "POSTGRES_PASSWORD": "pg-super-secret", "POSTGRES_PREFECT_PASSWORD": "prefect-db-secret",
    "POSTGRES_MLFLOW_PASSWORD": "mlflow-db-secret", "REDIS_PASSWORD": "redis-secret",
    "PREFECT_API_AUTH_STRING": "danlu:prefect-secret", "MLFLOW_FLASK_SERVER_SECRET_KEY": "flask-secret",
    "MLFLOW_AUTH_ADMIN_PASSWORD": "admin-secret", "DANLU_MLFLOW_PASSWORD": "worker-secret",
    "S3_SECRET_KEY": "s3-secret",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{proc.args[:3]} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    pytest.fail(f"{url} not healthy after {seconds} s:\n{log.read_text()[-3000:]}")


def status(url: str, auth: str | None = None, data: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    if auth:
        request.add_header("Authorization", "Basic " + b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


class Processes:
    """The servers this test starts; each in its own session, stopped by its own id."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.started = folder, []

    def start(self, name: str, argv: list[str], env: dict[str, str], **kwargs) -> tuple[subprocess.Popen, Path]:
        log = self.folder / f"{name}.log"
        proc = subprocess.Popen(argv, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                start_new_session=True, **kwargs)
        self.started.append(proc)
        return proc, log

    def stop(self) -> None:
        for proc in reversed(self.started):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.started:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="module")
def stack():
    if not (PG_BIN / "postgres").exists() or not shutil.which("redis-server"):
        pytest.skip("needs PostgreSQL 15 server binaries and redis-server")
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        as_postgres = ["runuser", "-u", "postgres", "--"]
    folder = Path(tempfile.mkdtemp(prefix="danlu-infra-"))
    folder.chmod(0o777)
    procs = Processes(folder)
    env = {**env_example(), **SECRETS}
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_", "AWS_"))}
    ports = {name: free_port() for name in ("postgres", "redis", "prefect", "mlflow", "s3", "worker")}
    try:
        # PostgreSQL, initialised the way the postgres image does: the superuser, then the script
        data = folder / "pg"
        pwfile = folder / "pwfile"
        pwfile.write_text(env["POSTGRES_PASSWORD"])
        pwfile.chmod(0o644)
        subprocess.run([*as_postgres, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres",
                        "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"],
                       check=True, capture_output=True)
        pg, pg_log = procs.start("postgres", [*as_postgres, str(PG_BIN / "postgres"), "-D", str(data),
                                 "-p", str(ports["postgres"]), "-k", str(folder),
                                 "-c", "listen_addresses=127.0.0.1"], base_env)
        postgres_env = {**base_env, "PGHOST": str(folder), "PGPORT": str(ports["postgres"]),
                        **{k: interpolate(v, env) for k, v in environment(services()["postgres"]).items()}}
        for _ in range(60):
            if subprocess.run([str(PG_BIN / "pg_isready"), "-h", str(folder), "-p", str(ports["postgres"])],
                              capture_output=True).returncode == 0:
                break
            time.sleep(0.5)
        # the script on stdin, run from the shared folder: the postgres user may not be able to
        # reach the checkout (a clone under a 0700 `mktemp -d` folder)
        init = subprocess.run([*as_postgres, "env", *[f"{k}={v}" for k, v in postgres_env.items()],
                               "bash", "-s"], input=(INFRA / "postgres" / "init-databases.sh").read_text(),
                              capture_output=True, text=True, cwd=folder)
        assert init.returncode == 0, init.stderr

        redis_argv = [interpolate(a, env) for a in command(services()["redis"])]
        procs.start("redis", [*redis_argv, "--port", str(ports["redis"]), "--bind", "127.0.0.1",
                              "--appendonly", "no", "--save", "", "--dir", str(folder)], base_env)

        def on_this_host(value: str) -> str:
            return (value.replace("@postgres:5432/", f"@127.0.0.1:{ports['postgres']}/")
                    .replace("postgres:5432/", f"127.0.0.1:{ports['postgres']}/")
                    .replace("@redis:6379/", f"@127.0.0.1:{ports['redis']}/")
                    .replace("http://rustfs:9000", f"http://127.0.0.1:{ports['s3']}")
                    .replace("http://prefect-server:4200", f"http://127.0.0.1:{ports['prefect']}")
                    .replace("http://mlflow:5000", f"http://127.0.0.1:{ports['mlflow']}"))

        def service_env(name: str) -> dict[str, str]:
            values = {k: on_this_host(interpolate(v, env)) for k, v in environment(services()[name]).items()}
            if "PREFECT_REDIS_MESSAGING_HOST" in values:
                values.update(PREFECT_REDIS_MESSAGING_HOST="127.0.0.1", PREFECT_REDIS_MESSAGING_PORT=str(ports["redis"]))
            return {**base_env, "PATH": f"{BIN}:{base_env['PATH']}", "PREFECT_HOME": str(folder / "prefect-home"),
                    **values}

        # Prefect: API and UI without services, then the services, as in compose.yaml
        api_argv = command(services()["prefect-server"])
        api_argv[api_argv.index("--host") + 1] = "127.0.0.1"
        api_argv[api_argv.index("--port") + 1] = str(ports["prefect"])
        api, api_log = procs.start("prefect-api", api_argv, service_env("prefect-server"))

        # S3: moto's server for RustFS; the buckets as bucket-init creates them
        s3, s3_log = procs.start("s3", [str(BIN / "python"), "-m", "moto.server", "-H", "127.0.0.1",
                                        "-p", str(ports["s3"])], base_env)
        wait_for(f"http://127.0.0.1:{ports['s3']}/moto-api/", 60, s3, s3_log)
        import boto3

        s3_client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{ports['s3']}",
                                 aws_access_key_id=env["S3_ACCESS_KEY"], aws_secret_access_key=env["S3_SECRET_KEY"],
                                 region_name="us-east-1")
        for bucket in (env["DANLU_MLFLOW_BUCKET"], env["DANLU_DVC_BUCKET"]):
            s3_client.create_bucket(Bucket=bucket)

        # MLflow: basic-auth app on PostgreSQL, artifacts proxied to S3
        ini = folder / "basic_auth.ini"
        ini.write_text(on_this_host((INFRA / "mlflow" / "basic_auth.ini").read_text()))
        mlflow_env = {**service_env("mlflow"), "MLFLOW_AUTH_CONFIG_PATH": str(ini)}
        mlflow_argv = [on_this_host(interpolate(a, env)) for a in command(services()["mlflow"])]
        mlflow_argv = [a for a in mlflow_argv if not a.startswith(("--host=", "--port="))]
        mlflow_argv += ["--host=127.0.0.1", f"--port={ports['mlflow']}", "--workers=1"]
        ml, ml_log = procs.start("mlflow", [str(BIN / mlflow_argv[0]), *mlflow_argv[1:]], mlflow_env)

        wait_for(f"http://127.0.0.1:{ports['prefect']}/api/health", 120, api, api_log)
        services_proc, services_log = procs.start("prefect-services", command(services()["prefect-services"]),
                                                  service_env("prefect-services"))
        wait_for(f"http://127.0.0.1:{ports['mlflow']}/health", 120, ml, ml_log)
        yield {"env": env, "ports": ports, "procs": procs, "service_env": service_env,
               "s3": s3_client, "services": (services_proc, services_log)}
    finally:
        procs.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_postgres_roles_reach_only_their_databases(stack) -> None:
    import psycopg2

    env, port = stack["env"], stack["ports"]["postgres"]
    for role, database in [("prefect", "prefect"), ("mlflow", "mlflow"), ("mlflow", "mlflow_auth")]:
        password = env[f"POSTGRES_{role.upper()}_PASSWORD"]
        psycopg2.connect(host="127.0.0.1", port=port, user=role, password=password, dbname=database).close()
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(host="127.0.0.1", port=port, user="prefect", password=env["POSTGRES_PREFECT_PASSWORD"],
                         dbname="mlflow").close()


def test_prefect_api_needs_the_auth_string_and_serves_a_client(stack) -> None:
    api = f"http://127.0.0.1:{stack['ports']['prefect']}/api"
    auth = stack["env"]["PREFECT_API_AUTH_STRING"]
    assert status(f"{api}/health") == 200
    assert status(f"{api}/version") == 401
    assert status(f"{api}/version", auth="danlu:wrong") == 401
    assert status(f"{api}/version", auth=auth) == 200
    # CSRF protection: a state-changing request without a CSRF token is refused
    assert status(f"{api}/work_pools/filter", auth=auth, data=b"{}") == 403
    # a client as a worker is configured (CSRF protection is on: the client fetches a token)
    client = subprocess.run([str(BIN / "python"), "-c", """
import asyncio
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
async def main():
    async with get_client() as client:
        await client.create_work_pool(WorkPoolCreate(name="cpu", type="process"))
        print((await client.read_work_pool("cpu")).type)
asyncio.run(main())
"""], env=stack["service_env"]("worker-cpu"), capture_output=True, text=True, timeout=120)
    assert client.returncode == 0, client.stderr[-3000:]
    assert client.stdout.strip().endswith("process")


def test_prefect_services_run_apart_and_pass_their_healthcheck(stack) -> None:
    proc, log = stack["services"]
    time.sleep(3)
    assert proc.poll() is None, log.read_text()[-3000:]
    check = subprocess.run([str(BIN / "python"), str(INFRA / "prefect" / "services_healthcheck.py")],
                           env=stack["service_env"]("prefect-services"), capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_the_worker_health_server_answers(stack) -> None:
    env = {**stack["service_env"]("worker-cpu"), "PREFECT_WORKER_WEBSERVER_PORT": str(stack["ports"]["worker"])}
    argv = [interpolate(a, stack["env"]) for a in command(services()["worker-cpu"])]
    worker, log = stack["procs"].start("worker-cpu", argv, env, cwd=tempfile.gettempdir())
    wait_for(f"http://127.0.0.1:{stack['ports']['worker']}/health", 120, worker, log)


def test_mlflow_denies_by_default_and_stores_artifacts_in_s3(stack) -> None:
    from mlflow.server import get_app_client

    env, uri = stack["env"], f"http://127.0.0.1:{stack['ports']['mlflow']}"
    assert status(f"{uri}/api/2.0/mlflow/experiments/search?max_results=1") == 401
    admin = f"{env['MLFLOW_AUTH_ADMIN_USERNAME']}:{env['MLFLOW_AUTH_ADMIN_PASSWORD']}"
    assert status(f"{uri}/api/2.0/mlflow/experiments/search?max_results=1", auth=admin) == 200

    os.environ.update(MLFLOW_TRACKING_USERNAME=env["MLFLOW_AUTH_ADMIN_USERNAME"],
                      MLFLOW_TRACKING_PASSWORD=env["MLFLOW_AUTH_ADMIN_PASSWORD"])
    try:
        users = get_app_client("basic-auth", tracking_uri=uri)
        users.create_user(env["DANLU_MLFLOW_USERNAME"], env["DANLU_MLFLOW_PASSWORD"])
        users.create_user("alice", "alice-secret")
    finally:
        del os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]

    worker_env = stack["service_env"]("worker-cpu")
    run = subprocess.run([str(BIN / "python"), "-c", """
import mlflow
experiment = mlflow.create_experiment("infra-smoke")
with mlflow.start_run(experiment_id=experiment):
    mlflow.log_text("hello", "note.txt")
print(experiment)
"""], env={k: v for k, v in worker_env.items() if not k.startswith("AWS_")},  # artifacts: via the server
        capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    experiment = run.stdout.strip().splitlines()[-1]
    keys = [o["Key"] for o in stack["s3"].list_objects_v2(Bucket=env["DANLU_MLFLOW_BUCKET"]).get("Contents", [])]
    assert any(key.endswith("/artifacts/note.txt") for key in keys), keys
    # a user nobody granted anything sees nothing (default_permission = NO_PERMISSIONS) until granted
    get = f"{uri}/api/2.0/mlflow/experiments/get?experiment_id={experiment}"
    assert status(get, auth="alice:alice-secret") == 403
    os.environ.update(MLFLOW_TRACKING_USERNAME=env["MLFLOW_AUTH_ADMIN_USERNAME"],
                      MLFLOW_TRACKING_PASSWORD=env["MLFLOW_AUTH_ADMIN_PASSWORD"])
    try:
        users.grant_user_permission("alice", "experiment", experiment, "READ")  # as infra/README.md
    finally:
        del os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]
    assert status(get, auth="alice:alice-secret") == 200
    worker = f"{env['DANLU_MLFLOW_USERNAME']}:{env['DANLU_MLFLOW_PASSWORD']}"
    assert status(f"{uri}/api/2.0/mlflow/experiments/get?experiment_id={experiment}", auth=worker) == 200


def test_the_dvc_remote_works_with_the_workers_environment(stack, tmp_path: Path) -> None:
    """The workers reach the DVC remote by AWS_* and AWS_ENDPOINT_URL_S3 alone: the repository's
    remote names only the bucket."""
    env = {**stack["service_env"]("worker-cpu"), "HOME": str(tmp_path)}
    bucket = stack["env"]["DANLU_DVC_BUCKET"]
    repo = tmp_path / "project"
    repo.mkdir()
    (repo / "a.txt").write_text("hello\n")
    for argv in (["git", "init", "-q"], [str(BIN / "dvc"), "init", "-q"], [str(BIN / "dvc"), "add", "-q", "a.txt"],
                 [str(BIN / "dvc"), "remote", "add", "-d", "team", f"s3://{bucket}"], [str(BIN / "dvc"), "push"]):
        result = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, f"{argv}: {result.stdout}{result.stderr}"
    keys = [o["Key"] for o in stack["s3"].list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert any(key.startswith("files/md5/") for key in keys), keys


@pytest.mark.parametrize("service", ["postgres", "redis"])
def test_the_healthchecks_of_postgres_and_redis_pass(stack, service: str) -> None:
    """The compose healthcheck's shell command ($$ unescaped), pointed at this test's port."""
    kind, shell_command = services()[service]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    port = stack["ports"][service]
    shell_command = interpolate(shell_command, stack["env"])
    shell_command = (shell_command.replace("-h 127.0.0.1", f"-h 127.0.0.1 -p {port}")
                     .replace("redis-cli ping", f"redis-cli -p {port} ping"))
    env = {**os.environ, "PATH": f"{PG_BIN}:{os.environ['PATH']}",
           **{k: interpolate(v, stack["env"]) for k, v in environment(services()[service]).items()}}
    assert subprocess.run(["sh", "-c", shell_command], env=env, timeout=30).returncode == 0
    env["POSTGRES_PASSWORD" if service == "postgres" else "REDIS_PASSWORD"] = "wrong"
    assert subprocess.run(["sh", "-c", shell_command], env=env, timeout=30,
                          capture_output=True).returncode != 0
