"""danlu.atomic: a full disk or a read-only folder while writing an output is one OutputError
that names the output and says what is wrong; other errors pass unchanged.

Tests run as root, where chmod 0o555 does not stop a write: a not-writable place is /sys (real:
EPERM even for root); a full disk and a read-only file system are simulated by making the
write raise OSError(ENOSPC) / OSError(EROFS), as pyarrow and the os module do."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from danlu import atomic
from danlu.atomic import atomic_dir, atomic_write_text
from danlu.errors import OutputError

NOT_WRITABLE = Path("/sys/danlu-test")


def no_space(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left "
                  "on device")


def test_a_full_disk_inside_an_output_folder_names_the_output(tmp_path: Path) -> None:
    out = tmp_path / "outputs" / "curate"
    with pytest.raises(OutputError) as caught:
        with atomic_dir(out) as tmp:
            (tmp / "ok.txt").write_text("fine")
            no_space()
    assert str(caught.value) == (f"cannot write {out}: no space left on device (free some "
                                 "space, or write the outputs to another disk: paths.outputs)")
    assert caught.value.__cause__.errno == errno.ENOSPC
    assert not out.exists() and os.listdir(out.parent) == []  # nothing half-written left


def test_a_full_disk_writing_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(atomic.os, "fsync", no_space)
    with pytest.raises(OutputError, match=f"cannot write {tmp_path / 'a.json'}: no space left"):
        atomic_write_text(tmp_path / "a.json", "{}")
    assert os.listdir(tmp_path) == []


def test_a_read_only_file_system_names_the_folder(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def read_only(*_args, dir=None, **_kwargs):
        raise OSError(errno.EROFS, "Read-only file system", dir)

    monkeypatch.setattr(atomic.tempfile, "mkdtemp", read_only)
    out = tmp_path / "new" / "out"
    with pytest.raises(OutputError) as caught:
        with atomic_dir(out):
            pass
    assert str(caught.value) == f"cannot write {out}: {out.parent} is on a read-only file system"


def cannot_write(folder: Path) -> bool:
    try:
        folder.mkdir()
    except OSError:
        return True
    folder.rmdir()
    return False


@pytest.mark.skipif(not cannot_write(NOT_WRITABLE), reason="/sys is writable here")
def test_a_folder_that_cannot_be_written() -> None:
    for write in (lambda p: atomic_dir(p).__enter__(), lambda p: atomic_write_text(p, "x")):
        with pytest.raises(OutputError) as caught:
            write(NOT_WRITABLE / "out")
        assert str(caught.value).startswith(f"cannot write {NOT_WRITABLE / 'out'}: /sys is not "
                                            "writable (")


def test_an_unreadable_input_inside_the_block_is_not_called_an_output(tmp_path: Path) -> None:
    with pytest.raises(PermissionError):
        with atomic_dir(tmp_path / "out"):
            raise PermissionError(errno.EACCES, "Permission denied", "/data/input.jsonl")


def test_other_errors_pass_unchanged(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        with atomic_dir(tmp_path / "out"):
            open(tmp_path / "missing.txt")
