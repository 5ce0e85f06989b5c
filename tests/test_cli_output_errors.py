"""`danlu curate` with an output it cannot write prints one line that names the output and says
what is wrong (no traceback), and exits 1. A not-writable place is real (/sys: EPERM even for
root, who may write in a chmod 0o555 folder); a full disk is simulated by making pyarrow's
parquet write raise the OSError(ENOSPC) it raises on a full disk (seen on /dev/full)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from test_atomic import NOT_WRITABLE, cannot_write

FULL_DISK = """
import errno, sys
import pyarrow.parquet as pq
def full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")
pq.ParquetWriter.write_table = full
from danlu.cli import main
sys.argv = ["danlu", *sys.argv[1:]]
main()
"""


@pytest.fixture
def project(tmp_path: Path, repo_root: Path) -> Path:
    (tmp_path / "params.yaml").write_text((repo_root / "params.yaml").read_text())
    text = "A plain sentence of English words about the river, the city and its music. " * 20
    (tmp_path / "in.jsonl").write_text(json.dumps({"text": text}) + "\n")
    return tmp_path


def curate(project: Path, out: Path, *python: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *(python or ["-m", "danlu"]), "curate", "--input",
                           str(project / "in.jsonl"), "--output", str(out)], cwd=project,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(not cannot_write(NOT_WRITABLE), reason="/sys is writable here")
def test_an_output_folder_that_cannot_be_written(project: Path) -> None:
    proc = curate(project, NOT_WRITABLE / "out")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().startswith(
        f"error: cannot write {NOT_WRITABLE / 'out'}: /sys is not writable (")
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_a_full_disk(project: Path) -> None:
    out = project / "outputs" / "curate"
    proc = curate(project, out, "-c", FULL_DISK)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot write ") and ": no space left on device" in last
    assert str(out.parent) in last
