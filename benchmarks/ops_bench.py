"""Operations figures on real servers (the team tests' harness: PostgreSQL, Prefect with an auth
string, a process worker on the `gpu` pool as `danlu deploy` makes it):

- how late a scheduled flow run starts: runs scheduled --lead seconds ahead (as the scheduler
  service creates a cron deployment's runs), from the scheduled time to the flow's first line,
  with the worker's default polling (PREFECT_WORKER_QUERY_SECONDS, PREFETCH_SECONDS);
- how long after a worker host dies its run is marked Crashed (the zombie automation, 30 s
  heartbeats, 90 s window), with --crash.

  .venv/bin/python benchmarks/ops_bench.py --runs 3 [--crash]

The last line is `scheduled_start_s=MEDIAN`.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "team"))

import team_servers as ts  # noqa: E402  (the tests' harness: the same servers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lead", type=float, default=30, help="seconds scheduled ahead")
    parser.add_argument("--crash", action="store_true", help="also time Crashed detection")
    args = parser.parse_args()
    if why := ts.postgres_available():
        sys.exit(f"needs PostgreSQL: {why}")
    logs = Path(tempfile.mkdtemp(prefix="danlu-ops-bench-"))
    auth = "danlu:bench-secret"
    prefect = ts.start_prefect(logs, auth)
    env = ts.base_env() | {"PREFECT_API_URL": prefect.url, "PREFECT_API_AUTH_STRING": auth}
    os.environ.update(env)
    worker = None
    try:
        from prefect import get_client
        from prefect.deployments import run_deployment

        from flows.deploy import DeploySettings, deploy_flow, ensure_pool, ensure_zombie_automation

        settings = DeploySettings(params=REPO / "params.yaml")
        ensure_pool("gpu", "bench", 1)
        ensure_zombie_automation(settings)
        deploy_flow(settings, "tests/team/sleepy.py:sleepy", "sleepy", "gpu")
        worker = subprocess.Popen([sys.executable, "-m", "prefect", "worker", "start", "--pool",
                                   "gpu", "--limit", "1"], env=env, cwd=REPO,
                                  stdout=(logs / "worker.log").open("wb"),
                                  stderr=subprocess.STDOUT, start_new_session=True)
        delays = []
        with get_client(sync_client=True) as client:
            for i in range(args.runs):
                when = datetime.now(timezone.utc) + timedelta(seconds=args.lead)
                run = run_deployment("danlu-sleepy/sleepy", parameters={"seconds": 1},
                                     scheduled_time=when, timeout=0)
                while not (r := client.read_flow_run(run.id)).state.is_final():
                    time.sleep(0.5)
                delay = (r.start_time - when).total_seconds()
                delays.append(delay)
                print(f"run {i + 1}: scheduled {when:%H:%M:%S}, started {delay:+.1f} s, "
                      f"{r.state.name}")
            if args.crash:
                run = run_deployment("danlu-sleepy/sleepy", timeout=0)
                while client.read_flow_run(run.id).state.type.value != "RUNNING":
                    time.sleep(0.5)
                time.sleep(5)
                import psutil

                for p in [worker.pid, *(c.pid for c in
                                        psutil.Process(worker.pid).children(recursive=True))]:
                    os.kill(p, signal.SIGKILL)
                killed = time.monotonic()
                while client.read_flow_run(run.id).state.type.value == "RUNNING":
                    time.sleep(1)
                print(f"Crashed {time.monotonic() - killed:.0f} s after the worker host died")
        print(f"scheduled_start_s={statistics.median(delays):.1f}")
    finally:
        if worker and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
        prefect.stop()


if __name__ == "__main__":
    main()
