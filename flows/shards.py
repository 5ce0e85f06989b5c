"""Curate shards (and the tokenizer's encoding jobs) as Prefect tasks, so each shows in the UI
with its logs and state.

Only with a Prefect server (PREFECT_API_URL set, as for deployments and `prefect server start`):
in embedded mode every worker process would start its own temporary server (about a minute
for two workers, measured), so there the stage keeps its own process pool (or Dask client).
With `curate.execution.dask_address`, the tasks run on that cluster through prefect-dask.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from prefect import task
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner

from danlu.errors import is_transient
from danlu.lifeline import die_with_parent, lifeline_args


class PrefectTasks:
    """A danlu ShardRunner (danlu.runners) over a Prefect task runner."""

    def __init__(self, task_runner: TaskRunner, label: str):
        self.task_runner = task_runner
        self.name = f"Prefect tasks ({label})"

    def map(self, fn: Callable, jobs: list) -> Iterator:
        with self.task_runner.duplicate() as runner:
            futures = [runner.submit(TASKS[getattr(job, "kind", "curate")], parameters={
                "fn": fn, "job": job, "shard": job.name}) for job in jobs]
            for future in futures:
                yield future.result()


def retry_if_transient(task, task_run, state) -> bool:
    """Prefect's retry_condition_fn: retry a lost connection or a timeout, not bad data, a bug
    or a full disk (danlu.errors.is_transient), which would only fail again."""
    try:
        state.result()
    except Exception as exc:  # the task's own error, raised again by its state
        return is_transient(exc)
    return False


@task(name="curate-shard", task_run_name="curate-{shard}", retries=1,
      retry_condition_fn=retry_if_transient)
def curate_shard(fn: Callable, job, shard: str):
    """One shard; a retry redoes it from scratch (its folder appears only when it is whole)."""
    return fn(job)


@task(name="encode-shard", task_run_name="{shard}", retries=1,
      retry_condition_fn=retry_if_transient)
def encode_shard(fn: Callable, job, shard: str):
    """One chunk of the tokenizer's encoding (danlu.tokenizer.encode_jobs): its ids appear
    whole or not at all, so a retry starts over."""
    return fn(job)


TASKS = {"curate": curate_shard, "encode": encode_shard}  # by the job's kind


def prefect_shard_runner(workers: int, dask_address: str | None = None) -> PrefectTasks | None:
    """Shards as tasks when a Prefect server is there to show them: on the Dask cluster that
    params name (prefect-dask's DaskTaskRunner), else in a local process pool."""
    if not os.environ.get("PREFECT_API_URL"):
        return None
    if dask_address:
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError:
            return None  # the stage's own Dask client runs them; it names the extra if missing
        return PrefectTasks(DaskTaskRunner(address=dask_address), f"Dask cluster at {dask_address}")
    # Prefect starts the workers from its own threads: they watch this process's pid
    # (kernel=False), since the kernel's death signal would follow the thread.
    processes = ProcessPoolTaskRunner(max_workers=workers, initializer=die_with_parent,
                                      initargs=lifeline_args(kernel=False))
    return PrefectTasks(processes, f"{workers} processes")
