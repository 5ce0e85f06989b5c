"""One run at a time per project: a second `danlu run` (or stage command) on the same outputs
waits for the first instead of writing the same folders, the same dvc.lock and the same
registry versions beside it. An advisory lock (flock) on a file in the outputs folder: the
kernel drops it when its holder dies, so a killed run leaves no stale lock."""

from __future__ import annotations

import fcntl
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from danlu.atomic import writes_to

log = logging.getLogger("danlu.pipeline")

LOCK_FILE = ".danlu-run.lock"


@contextmanager
def project_lock(outputs: Path, what: str) -> Iterator[None]:
    """Hold the project's run lock for the body; wait (saying for whom) while another holds it."""
    outputs = Path(outputs)
    path = outputs / LOCK_FILE
    with writes_to(outputs):
        outputs.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+", encoding="utf-8")
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            log.warning("%s: waiting for the run that holds %s (%s)", what, path, holder)
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}: {what}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
