"""Curate shards as Prefect tasks, so each shard shows in the UI with its logs and state.

Only with a Prefect server (PREFECT_API_URL set, as for deployments and `prefect server start`):
in embedded mode every worker process would start its own temporary server (about a minute
for two workers, measured), so there the stage keeps its own process pool.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from prefect import task
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner


class PrefectTasks:
    """A danlu ShardRunner (danlu.curate.execute) over a Prefect task runner."""

    def __init__(self, task_runner: TaskRunner, label: str):
        self.task_runner = task_runner
        self.name = f"Prefect tasks ({label})"

    def map(self, fn: Callable, jobs: list) -> Iterator:
        with self.task_runner.duplicate() as runner:
            futures = [runner.submit(curate_shard, parameters={"fn": fn, "job": job,
                                                               "shard": job.shard.name})
                       for job in jobs]
            for future in futures:
                yield future.result()


@task(name="curate-shard", task_run_name="curate-{shard}", retries=1)
def curate_shard(fn: Callable, job, shard: str):
    """One shard; a retry redoes it from scratch (its folder appears only when it is whole)."""
    return fn(job)


def prefect_shard_runner(workers: int) -> PrefectTasks | None:
    """Shards as tasks in a process pool when a Prefect server is there to show them."""
    if not os.environ.get("PREFECT_API_URL"):
        return None
    return PrefectTasks(ProcessPoolTaskRunner(max_workers=workers), f"{workers} processes")
