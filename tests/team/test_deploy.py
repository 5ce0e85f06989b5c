"""`danlu deploy` against a real Prefect server on PostgreSQL, with real process workers: the
objects it makes (twice, without duplicates), a GPU child that fails failing its parent, and
the zombie automation marking a killed worker's run Crashed and freeing its slot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.slow


def deploy(team, params: Path, *args: str) -> dict[str, str]:
    out = subprocess.run([str(Path(sys.executable).parent / "danlu"), "deploy", "--params",
                          str(params), *args],
                         env=team.env(), cwd=Path(__file__).parents[2], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return dict(line.split(": ", 1) for line in out.stdout.splitlines()
                if line.startswith(("work pool", "deployment", "automation")))


@pytest.fixture(scope="module")
def deployed(team, repo_root: Path, tmp_path_factory) -> dict[str, str]:
    return deploy(team, repo_root / "params.yaml", "--gpu-slots", "1")


def worker(team, pool: str, repo_root: Path, log: Path) -> subprocess.Popen:
    """A process worker in its own session (the test kills the whole group, as a lost host)."""
    return subprocess.Popen([sys.executable, "-m", "prefect", "worker", "start", "--pool", pool,
                             "--limit", "1"], env=team.env() | {"PREFECT_WORKER_QUERY_SECONDS": "2"},
                            cwd=repo_root, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_deploy_makes_pools_deployments_and_the_automation_once(team_env, deployed, repo_root):
    from prefect import get_client
    from prefect.automations import Automation

    from flows.deploy import GPU_STAGES, ZOMBIE_AUTOMATION

    again = deploy(team_env, repo_root / "params.yaml", "--gpu-slots", "1")
    assert again == deployed  # the same objects, updated in place
    with get_client(sync_client=True) as client:
        pools = {p.name: p for p in client.read_work_pools()}
        assert pools["cpu"].type == pools["gpu"].type == "process"
        assert pools["gpu"].concurrency_limit == 1
        nightly = client.read_deployment_by_name("danlu-pipeline/nightly")
        assert nightly.work_pool_name == "cpu"
        assert [s.schedule.cron for s in nightly.schedules] == ["0 3 * * *"]
        assert nightly.parameters["params_path"] == str(repo_root / "params.yaml")
        for stage in GPU_STAGES:
            d = client.read_deployment_by_name(f"danlu-{stage}/gpu")
            assert d.work_pool_name == "gpu" and d.entrypoint == f"flows/stages.py:{stage}_flow"
            assert d.job_variables["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "30"
        assert sorted(str(d.id) for d in client.read_deployments()) == sorted(
            v for k, v in deployed.items() if k.startswith("deployment"))
    automation = Automation.read(name=ZOMBIE_AUTOMATION)
    assert automation.trigger.within.total_seconds() == 90
    assert automation.actions[0].state.value == "CRASHED"


def test_a_failed_gpu_stage_fails_its_parent_pipeline(team_env, deployed, repo_root, tmp_path,
                                                      tokenizer_stage_project):
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    project = tokenizer_stage_project("broken-shards")
    params = project / "params.yaml"
    for shard in (project / "outputs" / "tokenizer" / "shards").glob("train*"):
        shard.write_bytes(b"not a shard")  # pretrain fails on the worker, not in the parent
    log = tmp_path / "worker.log"
    gpu = worker(team_env, "gpu", repo_root, log)
    try:
        run = subprocess.run(
            [str(Path(sys.executable).parent / "danlu"), "run", "--params", str(params),
             "--stages", "pretrain", "-S", "train.work_pool=gpu"],
            env=team_env.env(), cwd=project, capture_output=True, text=True, timeout=600)
    finally:
        stop(gpu)
    assert run.returncode != 0
    assert "stage pretrain on work pool 'gpu'" in run.stdout + run.stderr
    with get_client(sync_client=True) as client:
        parents = [r for r in client.read_flow_runs() if r.parameters.get("params_path")
                   == str(params) and r.parent_task_run_id is None]
        assert [r.state.type.value for r in parents] == ["FAILED"]
        children = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parents[0].id])))
        assert [(c.state.type.value, str(c.deployment_id) == deployed[
            "deployment danlu-pretrain/gpu"]) for c in children] == [("FAILED", True)]


def test_a_killed_worker_s_run_is_crashed_and_its_slot_freed(team_env, deployed, repo_root,
                                                             tmp_path):
    from prefect import get_client
    from prefect.deployments import run_deployment

    from flows.deploy import DeploySettings, deploy_flow

    settings = DeploySettings(params=repo_root / "params.yaml")
    deploy_flow(settings, "tests/team/sleepy.py:sleepy", "sleepy", "gpu")
    log = tmp_path / "worker.log"
    gpu = worker(team_env, "gpu", repo_root, log)
    try:
        run = run_deployment("danlu-sleepy/sleepy", timeout=0)
        with get_client(sync_client=True) as client:
            deadline = time.monotonic() + 180
            while client.read_flow_run(run.id).state.type.value != "RUNNING":
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(1)
            time.sleep(5)  # its first heartbeat
            # The worker host is gone: the worker and the flow run's engine process (which
            # Prefect starts in a session of its own, so it outlives a killed worker).
            host = [gpu.pid, *(p.pid for p in psutil.Process(gpu.pid).children(recursive=True))]
            for pid in host:
                os.kill(pid, signal.SIGKILL)
            gpu.wait()
            killed = time.monotonic()
            while (state := client.read_flow_run(run.id).state).type.value == "RUNNING":
                assert time.monotonic() - killed < 240, "still Running 240 s after the kill"
                time.sleep(2)
            crashed_after = time.monotonic() - killed
        assert state.type.value == "CRASHED", state
        assert "heartbeat" in state.message
        print(f"Crashed {crashed_after:.0f} s after the worker was killed")
        # the pool's one slot is free again: a new worker runs the next flow run
        gpu = worker(team_env, "gpu", repo_root, log)
        done = run_deployment("danlu-sleepy/sleepy", parameters={"seconds": 1}, timeout=180)
        assert done.state.type.value == "COMPLETED", log.read_text()[-3000:]
    finally:
        stop(gpu)
