"""The `danlu` command's exit (danlu.cli.entry): the interpreter's teardown is skipped, but not
what an exit owes: the exit code, buffered output, non-daemon threads, atexit handlers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXIT_NOW = """
import atexit, sys, threading, time
atexit.register(lambda: print("atexit ran", flush=False))
def late():
    time.sleep(0.3)
    print("thread finished", flush=False)
threading.Thread(target=late).start()
sys.stdout.write("buffered, no newline ")
from danlu.process_exit import exit_now
exit_now(3)
"""


def test_exit_now_keeps_the_code_the_output_the_threads_and_atexit() -> None:
    proc = subprocess.run([sys.executable, "-c", EXIT_NOW], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == "buffered, no newline thread finished\natexit ran\n"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "danlu", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_the_command_s_exit_codes_and_output(tmp_path: Path, repo_root: Path) -> None:
    ok = run("--help", cwd=repo_root)
    assert ok.returncode == 0 and "curate" in ok.stdout
    usage = run("no-such-command", cwd=repo_root)
    assert usage.returncode == 2 and "No such command" in usage.stderr
    missing = run("curate", "--input", str(tmp_path / "absent"), "--output", str(tmp_path / "o"),
                  "--no-track", cwd=repo_root)
    assert missing.returncode == 1 and "absent" in missing.stderr and "input path" in missing.stderr
    no_project = run("curate", "--input", str(tmp_path), "--output", str(tmp_path / "o"),
                     cwd=tmp_path)
    assert no_project.returncode == 2 and "params.yaml" in no_project.stderr
