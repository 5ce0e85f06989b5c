"""One team setup for the tests in this folder: PostgreSQL databases made for this run, an S3
server, Prefect (auth string, CSRF on) and MLflow (basic-auth, artifacts served from S3) on
loopback. Started once, stopped (and the databases dropped) at the end."""

from __future__ import annotations

import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import team_servers as ts

pytestmark = pytest.mark.slow

TINY = ["tokenizer.vocab_size=512", "model.context_length=64", "train.max_steps=6",
        "train.batch_size=4", "train.eval_every=3", "train.eval_batches=1",
        "train.checkpoint_every=3", "train.sample_tokens=0"]
STAGES = ["curate", "tokenizer", "pretrain"]


@dataclass
class Team:
    prefect_url: str
    prefect_auth: str
    mlflow_url: str
    mlflow_admin_password: str
    s3_url: str
    logs: Path

    @property
    def client_env(self) -> dict[str, str]:
        """What a team member's shell exports (README, Operations)."""
        return {"PREFECT_API_URL": self.prefect_url, "PREFECT_API_AUTH_STRING": self.prefect_auth,
                "MLFLOW_TRACKING_URI": self.mlflow_url, "MLFLOW_TRACKING_USERNAME": "admin",
                "MLFLOW_TRACKING_PASSWORD": self.mlflow_admin_password,
                "MLFLOW_S3_ENDPOINT_URL": self.s3_url, **ts.S3_KEYS}

    def env(self) -> dict[str, str]:
        return ts.base_env() | self.client_env | {"OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="session")
def team(tmp_path_factory):
    why = ts.postgres_available()
    if why:
        pytest.skip(f"the team-setup tests need PostgreSQL: {why} (CI and .ci/run start it)")
    logs = tmp_path_factory.mktemp("team-servers")
    started: list[ts.Server] = []
    try:
        s3 = ts.start_s3(logs)
        started.append(s3)
        for bucket in ("mlflow", "dvc"):
            ts.make_bucket(s3.url, bucket)
        auth = f"danlu:{secrets.token_hex(12)}"
        prefect = ts.start_prefect(logs, auth)
        started.append(prefect)
        password = secrets.token_hex(12)
        mlflow = ts.start_mlflow(logs, s3.url, "mlflow", password, secrets.token_hex(32))
        started.append(mlflow)
        yield Team(prefect.url, auth, mlflow.url, password, s3.url, logs)
    finally:
        for server in reversed(started):
            server.stop()


@pytest.fixture
def team_env(team: Team, monkeypatch):
    """This process as a team member's client (Prefect's and MLflow's). MLflow's URIs are
    module globals that an earlier test's mlflow.set_tracking_uri leaves set, and they win over
    MLFLOW_TRACKING_URI: they point at the team's server here, and back afterwards."""
    from mlflow.tracking._model_registry import utils as registry_globals
    from mlflow.tracking._tracking_service import utils as tracking_globals
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    for key, value in team.client_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PREFECT_API_KEY", raising=False)
    monkeypatch.setattr(tracking_globals, "_tracking_uri", team.mlflow_url)
    monkeypatch.setattr(registry_globals, "_registry_uri", team.mlflow_url)
    with temporary_settings({PREFECT_API_URL: team.prefect_url,
                             PREFECT_API_AUTH_STRING: team.prefect_auth}):
        yield team


@pytest.fixture(scope="session")
def team_run(team, tmp_path_factory) -> dict:
    """A tiny pipeline run from a team member's shell, the way README's Operations says."""
    from danlu.sample.bundle import restore

    project = tmp_path_factory.mktemp("team-project")
    repo = Path(__file__).parents[2]
    (project / "params.yaml").write_text((repo / "params.yaml").read_text())
    restore(project / "data")
    argv = [str(Path(sys.executable).parent / "danlu"), "run", "--stages", ",".join(STAGES)]
    for override in TINY:
        argv += ["-S", override]
    run = subprocess.run(argv, env=team.env(), cwd=project, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    return {"project": project, "output": run.stdout + run.stderr, "stages": STAGES}
