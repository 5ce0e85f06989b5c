"""Where a stage's jobs run (curate's shards, the tokenizer's encoding on a cluster): in this
process, in a pool of local processes (the default: all cores, because extraction and the
filters are pure Python bound by the GIL), on a Dask cluster, or through a Prefect task runner
(flows/stages.py). All give the same output: every job writes its own files and the stage
reads them in job order.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

from danlu.config import ExecutionConfig
from danlu.errors import ConfigError
from danlu.lifeline import die_with_parent, lifeline_args

log = logging.getLogger("danlu.runners")


class ShardRunner(Protocol):
    """Runs fn over the jobs and yields the results as they finish (any order)."""

    name: str

    def map(self, fn: Callable, jobs: list) -> Iterator: ...


class InProcess:
    name = "in-process"

    def map(self, fn: Callable, jobs: list) -> Iterator:
        return (fn(job) for job in jobs)


class LocalProcesses:
    """A process pool, kept open across maps until `close` (its workers keep their loaded
    models). Started with `spawn`: forking a process that holds MLflow's or Prefect's threads
    can deadlock, and spawn behaves the same on Linux and macOS. The workers die with this
    process (danlu.lifeline), and multiprocessing's resource tracker exits after them."""

    def __init__(self, workers: int):
        self.workers = workers
        self.name = f"{workers} local processes"
        self._pool: ProcessPoolExecutor | None = None

    def map(self, fn: Callable, jobs: list) -> Iterator:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            # the workers start from this thread, on the submits below
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context,
                                             initializer=die_with_parent,
                                             initargs=lifeline_args())
        futures = [self._pool.submit(fn, job) for job in jobs]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


class DaskCluster:
    """The shards as tasks of a running Dask cluster (`dask scheduler` + `dask worker`s, or a
    cloud deployment). Every worker must see the input paths and the output folder."""

    def __init__(self, address: str):
        try:
            from distributed import Client
        except ImportError:
            raise ConfigError(
                f"curate.execution.dask_address={address!r} needs dask.distributed: "
                "pip install 'danlu[dask]'"
            ) from None
        self.address = address
        self.name = f"Dask cluster at {address}"
        self._client_type = Client

    def map(self, fn: Callable, jobs: list) -> Iterator:
        from distributed import as_completed as dask_completed

        with self._client_type(self.address) as client:
            futures = client.map(fn, jobs, pure=False)
            for future in dask_completed(futures):
                yield future.result()


# make(workers, dask_address) -> a runner, or None to leave the choice to choose_runner
_CHOSEN: ContextVar[Callable[[int, str | None], ShardRunner | None] | None] = ContextVar(
    "shard_runner", default=None)


@contextmanager
def shard_runner(make: Callable[[int, str | None], ShardRunner | None]) -> Iterator[None]:
    """Within the block, shards run on `make(workers, dask_address)` when it gives a runner:
    how the Prefect flow hands its task runner (processes, or prefect-dask's on the cluster
    that params name) to the stage."""
    token = _CHOSEN.set(make)
    try:
        yield
    finally:
        _CHOSEN.reset(token)


def choose_runner(cfg: ExecutionConfig, n_jobs: int) -> ShardRunner:
    """The runner of the enclosing `shard_runner` block when it gives one; else the Dask
    cluster that params name; else local processes, or this process when there is one job or
    one worker (a pool would only add its start-up)."""
    workers = min(cfg.workers or os.cpu_count() or 1, n_jobs)
    make = _CHOSEN.get()
    if make is not None and (workers > 1 or cfg.dask_address) and (
            runner := make(workers, cfg.dask_address)) is not None:
        return runner
    if cfg.dask_address:
        return DaskCluster(cfg.dask_address)
    if workers <= 1:
        return InProcess()
    return LocalProcesses(workers)


class Runners:
    """The runner for a step of n jobs: the one given, else `choose_runner`'s, with local
    process pools reused from step to step and closed on leaving the `with` block."""

    def __init__(self, cfg: ExecutionConfig, given: ShardRunner | None = None):
        self.cfg = cfg
        self.given = given
        self._pools: dict[int, LocalProcesses] = {}

    def __call__(self, n_jobs: int) -> ShardRunner:
        if self.given is not None:
            return self.given
        chosen = choose_runner(self.cfg, n_jobs)
        if isinstance(chosen, LocalProcesses):
            return self._pools.setdefault(chosen.workers, chosen)
        return chosen

    def __enter__(self) -> Runners:
        return self

    def __exit__(self, *_: object) -> None:
        for pool in self._pools.values():
            pool.close()


def run_all(runner: ShardRunner, fn: Callable, jobs: Iterable, what: str) -> list:
    jobs = list(jobs)
    results = []
    for i, result in enumerate(runner.map(fn, jobs), 1):
        results.append(result)
        if i == len(jobs) or i % max(1, len(jobs) // 10) == 0:
            log.info("%d/%d %s done (%s)", i, len(jobs), what, runner.name)
    return results
