"""danlu.lifeline: a child dies when its parent does, by the kernel's death signal or by its
watching thread; a pool started from a thread that ends keeps its workers."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ProcessPoolExecutor

import pytest
from process_tree import descendants, seconds_until_gone, wait_for

from danlu import lifeline

# parent: starts a child that calls die_with_parent (or a `sleep` through kernel_lifeline), waits
PARENT = """
import os, subprocess, sys, time
from danlu.lifeline import kernel_lifeline
how = sys.argv[1]
if how == "preexec":
    child = subprocess.Popen(["sleep", "120"], preexec_fn=kernel_lifeline())
else:
    code = ("import os, sys, time; from danlu.lifeline import die_with_parent; "
            f"die_with_parent({os.getpid()}, kernel={how == 'kernel'}); "
            "print('ready', flush=True); time.sleep(120)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    child.stdout.readline()
print(child.pid, flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("how", ["kernel", "watcher", "preexec"])
def test_a_child_dies_soon_after_its_parent(how: str) -> None:
    if how != "watcher" and lifeline._PRCTL is None:
        pytest.skip("prctl(PR_SET_PDEATHSIG) is Linux-only")
    parent = subprocess.Popen([sys.executable, "-c", PARENT, how], stdout=subprocess.PIPE,
                              text=True)
    try:
        int(parent.stdout.readline())
        family = descendants(parent.pid)
        assert len(family) == 1
    finally:
        parent.kill()
        parent.wait()
    seconds = seconds_until_gone(family, 10)
    assert seconds < lifeline.POLL_SECONDS + 2


def test_a_child_whose_parent_is_already_gone_ends_at_once() -> None:
    code = "from danlu.lifeline import die_with_parent; die_with_parent(1); import time; time.sleep(60)"
    # this test process is its parent, not pid 1: it looks as if the expected parent had died
    done = subprocess.run([sys.executable, "-c", code], timeout=30)
    assert done.returncode == -signal.SIGKILL


def _pid() -> int:
    return os.getpid()


def test_a_pool_started_from_a_thread_that_ends_keeps_its_workers() -> None:
    """PR_SET_PDEATHSIG follows the starting thread: lifeline_args makes such workers watch."""
    pools = []

    def start() -> None:
        assert not lifeline.started_from_main_thread()
        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=lifeline.die_with_parent,
                                   initargs=lifeline.lifeline_args())
        pools.append((pool, pool.submit(_pid).result()))  # the worker starts in this thread

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    pool, first = pools[0]
    with pool:
        wait_for(lambda: not thread.is_alive(), 5, "the thread's end")
        assert pool.submit(_pid).result(timeout=30) == first  # the same worker, alive
