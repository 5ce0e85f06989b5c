"""One run at a time per project: a second run waits for the first, saying for whom; the lock
goes with its holder, even one killed with SIGKILL."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

from danlu.project_lock import LOCK_FILE, project_lock

HOLD = """
import sys, time
from danlu.project_lock import project_lock
with project_lock(sys.argv[1], "danlu run (test)"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def holder(outputs: Path, seconds: float) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(outputs), str(seconds)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_run_waits_for_the_first_and_names_it(tmp_path: Path, caplog):
    first = holder(tmp_path / "outputs", 3)
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="danlu.pipeline"):
        with project_lock(tmp_path / "outputs", "danlu pretrain"):
            waited = time.monotonic() - start
    assert first.wait(timeout=30) == 0
    assert waited > 1.5  # the first held it for 3 s
    assert f"pid {first.pid}" in caplog.text and "danlu run (test)" in caplog.text
    assert "danlu pretrain" in (tmp_path / "outputs" / LOCK_FILE).read_text()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path):
    first = holder(tmp_path / "outputs", 600)
    first.send_signal(signal.SIGKILL)
    first.wait()
    start = time.monotonic()
    with project_lock(tmp_path / "outputs", "danlu run"):
        assert time.monotonic() - start < 5


def test_an_unwritable_outputs_folder_is_named(tmp_path: Path, monkeypatch):
    import pytest

    from danlu.errors import OutputError

    def refuse(*args, **kwargs):
        raise OSError(30, "Read-only file system")  # EROFS

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(OutputError, match=str(tmp_path / "outputs")):
        with project_lock(tmp_path / "outputs", "danlu run"):
            pass
