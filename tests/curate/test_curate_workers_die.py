"""Crash handling: `kill -9` of a curate run takes all its processes with it: from the main
thread, its forks (the validator and the pool's workers; the kernel's death signal); from
another thread, its spawned workers and multiprocessing's resource tracker (the workers watch
their parent)."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from curate_fixtures import stdlib_texts, write_jsonl
from process_tree import descendants, seconds_until_gone, wait_for

from danlu.config import CurateConfig

RUN_SCRIPT = """
import sys, pickle, threading
from pathlib import Path
from danlu.curate.run import curate
cfg, inputs, out, in_thread = pickle.loads(Path(sys.argv[1]).read_bytes())
if in_thread:  # as a Prefect worker thread would run the stage
    t = threading.Thread(target=curate, args=(cfg, inputs, out))
    t.start()
    t.join()
else:
    curate(cfg, inputs, out)
"""


def is_worker(proc, parent_cmdline: list[str]) -> bool:
    """A spawned worker, or a fork of the run (forked workers and validator)."""
    cmdline = proc.cmdline()
    return "spawn_main" in " ".join(cmdline) or cmdline == parent_cmdline


@pytest.mark.parametrize("where", ["main thread", "other thread"])
def test_kill_9_of_a_curate_run_leaves_no_process_behind(
    curate_cfg: CurateConfig, tmp_path: Path, where: str
) -> None:
    texts = stdlib_texts(3000)
    inputs = {"docs": [write_jsonl(tmp_path / "in" / f"part-{k}.jsonl",
                                   [{"text": t} for t in texts[k::6]]) for k in range(6)]}
    cfg = curate_cfg.model_copy(update={"execution": curate_cfg.execution.model_copy(
        update={"workers": 2, "shard_bytes": 8_000})})
    job = tmp_path / "job.pickle"
    job.write_bytes(pickle.dumps((cfg, inputs, tmp_path / "out", where != "main thread")))
    proc = subprocess.Popen([sys.executable, "-c", RUN_SCRIPT, str(job)],
                            env={**os.environ, "PYTHONHASHSEED": "0"})
    try:
        shards_dir = tmp_path / ".out.work" / "shards"
        forked = where == "main thread"  # no other thread: forks (runners._worker_context)
        parent_cmdline = psutil.Process(proc.pid).cmdline()
        # busy: both workers up (and the validator's fork) and shards finishing
        wait_for(lambda: sum(is_worker(p, parent_cmdline) for p in descendants(proc.pid))
                 == (3 if forked else 2) and len(list(shards_dir.glob("shard-*"))) >= 2,
                 120, "two busy workers")
        family = descendants(proc.pid)
        assert proc.poll() is None, "the run finished before it could be killed"
    except BaseException:
        proc.kill()
        raise
    names = [" ".join(p.cmdline()) for p in family]
    assert sum("resource_tracker" in n for n in names) == (0 if forked else 1), names
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    seconds = seconds_until_gone(family, 20)
    print(f"{where}: {len(family)} descendants gone {seconds:.2f} s after the parent's SIGKILL")
