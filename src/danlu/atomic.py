"""Atomic writes: an output appears whole under its final name, or not at all. A full disk or a
read-only folder, met anywhere in the writing, becomes one OutputError that names the output."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from danlu.errors import output_error


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside `final`; on success it replaces `final` by rename."""
    final = Path(final)
    with writes_to(final):
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
        tmp.chmod(0o755)  # mkdtemp makes it private; outputs are ordinary readable folders
    try:
        with writes_to(final, inside=tmp):
            yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    with writes_to(final):
        old = None
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
        os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def writes_to(output: Path, inside: Path | None = None) -> Iterator[None]:
    """A full disk or a read-only folder while writing `output`: OutputError naming it. With
    `inside` (the caller's own work happens here), permission denied counts only for a file
    in that folder: elsewhere it may have been an input that could not be read."""
    try:
        yield
    except OSError as exc:
        if inside is not None and exc.errno in (errno.EACCES, errno.EPERM) and not (
                isinstance(exc.filename, (str, bytes, os.PathLike))
                and Path(os.fsdecode(exc.filename)).is_relative_to(inside)):
            raise
        if (error := output_error(exc, output)) is None:
            raise
        raise error from exc


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    with writes_to(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with writes_to(path):
            os.fchmod(fd, 0o644)  # mkstemp makes it private
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, data: object) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
