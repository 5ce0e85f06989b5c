"""For tests that kill a parent: its descendants, and whether they die within a bounded wait."""

from __future__ import annotations

import time
from collections.abc import Callable

import psutil


def descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.05)


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running (a zombie has died: only its exit status waits for a reaper)."""
    out = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
        except psutil.NoSuchProcess:
            pass
    return out


def seconds_until_gone(procs: list[psutil.Process], timeout: float) -> float:
    """Seconds until none of `procs` runs; kills the survivors and fails after `timeout`."""
    began = time.monotonic()
    while alive(procs) and time.monotonic() - began < timeout:
        time.sleep(0.05)
    left = [(proc, _command(proc)) for proc in alive(procs)]
    for proc, _ in left:  # leave nothing running, whatever the outcome
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    assert not left, "still running %.0f s after their parent's death: %s" % (
        timeout, [(proc.pid, command) for proc, command in left])
    return time.monotonic() - began


def _command(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())[:120]
    except psutil.Error:
        return "?"
