"""The pretrain stage on a Prefect work pool: deployed from the project's source, picked up by
a process worker (a GPU machine's, in production), its record read back by the caller."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

POOL = "gpu-test"
SMALL = ["model.context_length=32", "train.batch_size=4", "train.batch_tokens=128",
         "train.max_steps=4", "train.warmup_steps=1", "train.eval_every=2", "train.eval_batches=1",
         "train.checkpoint_every=0", "train.threads=1", "train.compile=false",
         "train.sample_tokens=0", "tracking.register_models=false"]


@pytest.fixture(scope="module")
def server():
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield PREFECT_API_URL.value()


@pytest.fixture(scope="module")
def project(tokenizer_stage_project) -> Path:
    return tokenizer_stage_project("pool-project")


def test_pretrain_runs_on_the_pool_worker_and_reports_back(server: str, project: Path,
                                                           repo_root: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    from flows.deploy import DeploySettings, deploy_stage
    from flows.stages import run_on_pool

    async def make_pool():
        async with get_client() as client:
            await client.create_work_pool(WorkPoolCreate(name=POOL, type="process"))

    asyncio.run(make_pool())
    deploy_stage(DeploySettings(params=project / "params.yaml", project=repo_root,
                                gpu_pool=POOL), "pretrain")

    async def read_deployment():
        async with get_client() as client:
            return await client.read_deployment_by_name(f"danlu-pretrain/{POOL}")

    deployment = asyncio.run(read_deployment())
    assert deployment.work_pool_name == POOL
    assert deployment.entrypoint == "flows/stages.py:pretrain_flow"

    env = {**os.environ, "PREFECT_API_URL": server, "OMP_NUM_THREADS": "1",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    worker = subprocess.Popen([sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL],
                              env=env, cwd=repo_root, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        record = run_on_pool("pretrain", POOL, str(project / "params.yaml"), SMALL,
                             parent_run_id=None, force=True, timeout=600)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    assert record["name"] == "pretrain" and not record["cached"]
    assert record["metrics"]["train_tokens"] == 4 * 4 * 32
    assert (project / "outputs" / "pretrain" / "model" / "model.safetensors").is_file()

    async def run_logs():
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId, LogFilter
        from prefect.client.schemas.filters import LogFilterFlowRunId

        async with get_client() as client:
            runs = await client.read_flow_runs(deployment_filter=DeploymentFilter(
                id=DeploymentFilterId(any_=[deployment.id])))
            logs = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(
                any_=[r.id for r in runs])))
            return runs, [log.message for log in logs]

    # the stage's own log lines are in the flow run, as the UI shows them; the server stores
    # logs as they arrive in batches, so they may land a moment after the run completes
    deadline = time.monotonic() + 60
    while True:
        runs, messages = asyncio.run(run_logs())
        found = any(m.startswith("pretrain: tiny preset") for m in messages)
        if found or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert [r.state.name for r in runs] == ["Completed"]
    assert found, messages[:20]
