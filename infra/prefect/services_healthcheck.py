"""Healthcheck of the `prefect server services start` container, which serves no HTTP: healthy
while the services process runs and the Redis it consumes from accepts connections."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

MARKER = [b"server", b"services", b"start"]


def services_running(proc: Path = Path("/proc")) -> bool:
    """True if a process other than this one runs `... server services start`."""
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # the process ended while we looked
            continue
        if any(argv[i:i + len(MARKER)] == MARKER for i in range(len(argv))):
            return True
    return False


def redis_reachable() -> bool:
    host = os.environ.get("PREFECT_REDIS_MESSAGING_HOST", "localhost")
    port = int(os.environ.get("PREFECT_REDIS_MESSAGING_PORT", "6379"))
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError:
        return False
    return True


if __name__ == "__main__":
    if not services_running():
        sys.exit("no `prefect server services start` process")
    if not redis_reachable():
        sys.exit("Redis does not accept connections")
