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
import sys
import threading
import traceback
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


def _can_fork() -> bool:
    """Whether forking this process is safe: Linux (macOS's system libraries are not
    fork-safe), and no other thread (MLflow's, Prefect's) whose locks a fork could copy held."""
    return sys.platform.startswith("linux") and threading.active_count() == 1


def _worker_context() -> multiprocessing.context.BaseContext:
    """`fork` on Linux while this process runs no other thread: the workers start at once with
    everything already imported and loaded (curate's modules and language model: 0.3 s of CPU
    per spawned worker). Otherwise `spawn`: forking a process that holds MLflow's or Prefect's
    threads can deadlock, and macOS's system libraries are not fork-safe."""
    if _can_fork():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


class PreparedProcess:
    """One call, later, in a process that starts `prepare()` now: a slow import (Great
    Expectations' 2 s) done on another core while this process works, instead of in a thread
    of this one, where it would hold the GIL against the work. A fork of this process (its
    state, monkeypatches included), so only on Linux while this process runs no other thread;
    a plain Process and a Pipe start none, so a pool can still fork after it. Elsewhere
    `start()` prepares in a thread here and `call` runs here.

        prepared = PreparedProcess(import_gx, "great_expectations")  # before any thread
        ...; prepared.start()                              # the threaded fallback begins
        report = prepared.call(validate, out_dir)          # then the process is gone
    """

    def __init__(self, prepare: Callable[[], object], name: str):
        self.prepare = prepare
        self.name = name
        self._process: multiprocessing.process.BaseProcess | None = None
        self._called = False
        if _can_fork():
            context = multiprocessing.get_context("fork")
            self._conn, child = context.Pipe()
            self._process = context.Process(target=_serve_one_call, name=f"prepared-{name}",
                                            args=(child, self._conn, prepare, *lifeline_args()),
                                            daemon=True)
            self._process.start()
            child.close()

    def start(self) -> None:
        if self._process is None:
            _in_background(self.prepare, self.name)

    def call(self, fn: Callable, *args, **kwargs):
        """fn(*args, **kwargs) there (here, without a process); its exception is raised here."""
        if self._process is None:
            return fn(*args, **kwargs)
        self._called = True
        try:
            self._conn.send((fn, args, kwargs))
            ok, value = self._conn.recv()
        except (EOFError, OSError) as exc:
            self._process.join(timeout=5)  # it closed the pipe on its way out
            code = self._process.exitcode
            raise RuntimeError(f"the process prepared with {self.name} ended before "
                               f"answering (exit code {code})") from exc
        finally:
            self.close()
        if not ok:
            raise value
        return value

    def close(self) -> None:
        """Without a call, the process is stopped at once (it may be mid-import: a config
        error must not wait for it); after one, it has answered and ends by itself."""
        if self._process is not None:
            self._conn.close()
            if not self._called:
                self._process.kill()
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
            self._process = None

    def __enter__(self) -> PreparedProcess:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _serve_one_call(conn, parent_end, prepare: Callable[[], object], parent: int, sig: int,
                    kernel: bool) -> None:
    parent_end.close()  # the fork's copy: with it open, the parent's close would not be EOF here
    die_with_parent(parent, sig, kernel)
    try:
        prepare()
    except Exception:  # noqa: BLE001 - the call's own import raises it in context
        pass
    try:
        fn, args, kwargs = conn.recv()
    except EOFError:  # closed without a call
        return
    try:
        answer = (True, fn(*args, **kwargs))
    except BaseException as exc:  # noqa: BLE001 - handed to the caller, who raises it
        exc.add_note("".join(traceback.format_exception(exc)).rstrip())
        answer = (False, exc)
    try:
        conn.send(answer)
    except Exception as exc:  # noqa: BLE001 - an answer pickle cannot carry
        conn.send((False, RuntimeError(f"{type(answer[1]).__name__} could not be sent back: "
                                       f"{exc}\n{answer[1]!r}")))


def _in_background(prepare: Callable[[], object], name: str) -> None:
    """Start a slow import that a later step needs; the import lock makes the later import
    wait for this one, and a failure there is reported there."""
    def load() -> None:
        try:
            prepare()
        except Exception:  # noqa: BLE001 - the real import, later, raises it in context
            pass

    threading.Thread(target=load, name=f"import-{name}", daemon=True).start()


class LocalProcesses:
    """A process pool, kept open across maps until `close` (its workers keep their loaded
    models), of forks or fresh processes (_worker_context). The workers die with this process
    (danlu.lifeline), and multiprocessing's resource tracker exits after them."""

    def __init__(self, workers: int):
        self.workers = workers
        self.name = f"{workers} local processes"
        self._pool: ProcessPoolExecutor | None = None

    def map(self, fn: Callable, jobs: list) -> Iterator:
        """Submits every job now (the workers start here), then yields as they finish."""
        if self._pool is None:
            # the workers start from this thread, on the submits below
            self._pool = ProcessPoolExecutor(self.workers, mp_context=_worker_context(),
                                             initializer=die_with_parent,
                                             initargs=lifeline_args())
        return self._results([self._pool.submit(fn, job) for job in jobs])

    @staticmethod
    def _results(futures: list) -> Iterator:
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


def run_all(runner: ShardRunner, fn: Callable, jobs: Iterable, what: str,
            started: Callable[[], None] | None = None) -> list:
    """fn over the jobs on the runner, the results in the order they finish; `started` is
    called once the jobs are handed over (a local pool's workers are running by then)."""
    jobs = list(jobs)
    results = []
    finishing = runner.map(fn, jobs)
    if started is not None:
        started()
    for i, result in enumerate(finishing, 1):
        results.append(result)
        if i == len(jobs) or i % max(1, len(jobs) // 10) == 0:
            log.info("%d/%d %s done (%s)", i, len(jobs), what, runner.name)
    return results
