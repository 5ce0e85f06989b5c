"""PreparedProcess: a call run later in a forked process that began its preparation (a slow
import) at once; and the local pool's start method. Both depend on whether other threads run,
so each case runs in a fresh interpreter (`python this_file.py CASE`), whose only thread is
its main one, whatever the test session has started."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from danlu import runners
from danlu.errors import ValidationFailed
from danlu.runners import LocalProcesses, PreparedProcess, run_all

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks on Linux only")

PREPARED: list[int] = []


def prepare() -> None:
    PREPARED.append(os.getpid())


def where() -> tuple[int, list[int]]:
    return os.getpid(), list(PREPARED)


def fail(path: str) -> None:
    raise ValidationFailed(f"3 expectations failed, see {path}", report_path=path)


def die() -> None:
    os._exit(7)


def unpicklable() -> object:
    return threading.Lock()


def raised(call, kind: type[BaseException]) -> BaseException:
    try:
        call()
    except kind as exc:
        return exc
    raise AssertionError(f"no {kind.__name__}")


def no_other_thread() -> None:
    assert threading.active_count() == 1, threading.enumerate()


def case_the_call_runs_where_the_preparation_ran() -> None:
    no_other_thread()
    with PreparedProcess(prepare, "test") as prepared:
        prepared.start()  # nothing to do here: the process prepares itself
        pid, prepared_in = prepared.call(where)
    assert pid != os.getpid() and prepared_in == [pid]
    assert PREPARED == []  # not in this process
    assert prepared._process is None  # gone after its one call


def case_an_exception_is_raised_here_with_its_attributes_and_remote_traceback() -> None:
    no_other_thread()
    exc = raised(lambda: PreparedProcess(prepare, "test").call(fail, "/tmp/report.json"),
                 ValidationFailed)
    assert exc.report_path == "/tmp/report.json"
    assert str(exc) == "3 expectations failed, see /tmp/report.json"
    assert any("in fail" in note for note in exc.__notes__)


def case_a_process_that_dies_is_a_clear_error() -> None:
    no_other_thread()
    exc = raised(lambda: PreparedProcess(prepare, "gx").call(die), RuntimeError)
    assert "prepared with gx ended before answering (exit code 7)" in str(exc), exc


def case_an_answer_that_cannot_travel_is_reported() -> None:
    no_other_thread()
    exc = raised(lambda: PreparedProcess(prepare, "test").call(unpicklable), RuntimeError)
    assert "could not be sent back" in str(exc), exc


def slow() -> None:
    time.sleep(60)


def case_closed_without_a_call_the_process_is_stopped_at_once() -> None:
    no_other_thread()
    prepared = PreparedProcess(slow, "test")  # as a config error stops a run mid-import
    process = prepared._process
    began = time.monotonic()
    prepared.close()
    assert time.monotonic() - began < 5 and not process.is_alive()


def case_with_another_thread_running_it_prepares_in_a_thread_and_calls_here() -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        prepared = PreparedProcess(prepare, "test")
        assert prepared._process is None  # forking now could deadlock
        prepared.start()
        for thread in threading.enumerate():
            if thread.name == "import-test":
                thread.join()
        assert PREPARED == [os.getpid()]
        assert prepared.call(where) == (os.getpid(), [os.getpid()])
    finally:
        stop.set()
        other.join()


def square(x: int) -> tuple[int, int, list[int]]:
    return x * x, os.getppid(), list(PREPARED)


def case_local_workers_are_forks_while_no_other_thread_runs() -> None:
    no_other_thread()
    assert runners._worker_context().get_start_method() == "fork"
    PREPARED.append(-1)  # a fork sees this process's state; a spawned worker would not
    pool = LocalProcesses(2)
    try:
        results = sorted(run_all(pool, square, [1, 2, 3], "squares"))
    finally:
        pool.close()
    assert results == [(1, os.getpid(), [-1]), (4, os.getpid(), [-1]), (9, os.getpid(), [-1])]


def case_local_workers_are_spawned_while_another_thread_runs() -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert runners._worker_context().get_start_method() == "spawn"
    finally:
        stop.set()
        other.join()


CASES = sorted(name for name in dir() if name.startswith("case_"))


@pytest.mark.parametrize("case", CASES)
def test_in_a_fresh_interpreter(case: str) -> None:
    proc = subprocess.run([sys.executable, __file__, case], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr


if __name__ == "__main__":
    globals()[sys.argv[1]]()
