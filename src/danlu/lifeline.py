"""Child processes die with their parent: pool workers, forked encoders and torchrun get a
signal when the process that started them dies, even by SIGKILL, instead of living on under
init (seen: two 225 MB curate workers and multiprocessing's resource tracker alive 25 minutes
after `kill -9` of `danlu curate`; the tracker exits by itself once the workers are gone).

On Linux the kernel sends the signal: prctl(PR_SET_PDEATHSIG). It fires when the *thread* that
started the child exits, not the process, so it is used only for children started from the
main thread (whose end is the process's end). A child started from another thread, or where
prctl does not exist, runs a daemon thread that polls os.getppid() instead (it changes when
the parent dies) and signals its own process.

    pool:     ProcessPoolExecutor(..., initializer=die_with_parent, initargs=lifeline_args())
    Popen:    subprocess.Popen(..., preexec_fn=kernel_lifeline(signal.SIGTERM))
    in main:  die_with_parent(expected_parent, signal.SIGKILL)
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# How often a watching thread looks at its parent: a dead parent's children go within this.
POLL_SECONDS = 0.5


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                      ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


# Resolved once, at import: a Popen preexec function must not load libraries after the fork.
_PRCTL = _load_prctl()


def started_from_main_thread() -> bool:
    """Whether a child started now, from this thread, may rely on PR_SET_PDEATHSIG."""
    return threading.current_thread() is threading.main_thread()


def lifeline_args(sig: int = signal.SIGKILL, kernel: bool | None = None) -> tuple[int, int, bool]:
    """`initargs` for die_with_parent as a pool's initializer, made in the parent that creates
    the pool: its pid, the signal, and whether the kernel may watch (None: only when this is
    the main thread; a pool's workers start from the thread that first submits to it)."""
    if kernel is None:
        kernel = started_from_main_thread()
    return os.getpid(), int(sig), kernel


def die_with_parent(parent: int, sig: int = signal.SIGKILL, kernel: bool = True) -> None:
    """In a child: get `sig` when `parent` (the pid it was started by) is no longer its parent.
    `kernel=False` when the thread that started this process may end before its process."""
    if os.getppid() != parent:  # died already, before we could ask
        os.kill(os.getpid(), sig)
        return
    if kernel and _PRCTL is not None and _PRCTL(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0:
        if os.getppid() != parent:  # died between the check and prctl
            os.kill(os.getpid(), sig)
        return
    watcher = threading.Thread(target=_watch, args=(parent, int(sig)), daemon=True,
                               name="danlu-lifeline")
    watcher.start()


def _watch(parent: int, sig: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    os.kill(os.getpid(), sig)


def kernel_lifeline(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A Popen `preexec_fn` that makes the child (and the program it executes: the setting
    survives exec) get `sig` when the calling thread's process dies; None where prctl does not
    exist. The calling thread must wait for the child (as `with Popen(...)` does)."""
    if _PRCTL is None:
        return None
    parent, prctl = os.getpid(), _PRCTL

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), sig)

    return preexec
