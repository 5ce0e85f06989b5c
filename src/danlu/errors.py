"""danlu's own error types: each message names the file, record or key and what was expected;
and `is_transient`, which tells the errors worth a retry from the rest."""

from __future__ import annotations

import errno
import os
import socket
import sys


class DanluError(Exception):
    """Base of every error danlu raises on purpose."""


class ConfigError(DanluError):
    """params.yaml or a -S override is wrong: unknown key, wrong type or value."""


class DataError(DanluError):
    """An input file or record is missing or unusable."""


class ValidationFailed(DanluError):
    """A data-quality gate (Great Expectations) rejected a stage's output."""

    def __init__(self, message: str, report_path: str | None = None):
        super().__init__(message)
        self.report_path = report_path


class TrackingError(DanluError):
    """MLflow tracking or the model registry could not do what was asked."""


class OutputError(DanluError):
    """An output could not be written: the disk is full, or the folder is read-only."""


_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
_READ_ONLY = {errno.EROFS: "is on a read-only file system",
              errno.EACCES: "is not writable (permission denied)",
              errno.EPERM: "is not writable (operation not permitted)"}


def one_line(exc: BaseException) -> str:
    """An error as one line: danlu's own by their message, others with their type."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return text if isinstance(exc, DanluError) else f"{type(exc).__name__}: {text}"


def output_error(exc: BaseException, output: str | os.PathLike | None = None) -> OutputError | None:
    """The one clear error for an OSError met while writing `output`: a full disk, or a
    read-only or not writable folder (named: the nearest folder that exists). None for any
    other error. Without `output` (the error's own file then), only a full disk and a
    read-only file system count: permission denied may have come from reading an input."""
    if not isinstance(exc, OSError) or isinstance(exc, OutputError):
        return None
    code = exc.errno
    if output is None:
        if code not in _NO_SPACE and code != errno.EROFS:
            return None
        output = exc.filename if exc.filename is not None else "an output"
    if code in _NO_SPACE:
        reason = "disk quota exceeded" if code == errno.EDQUOT else "no space left on device"
        return OutputError(f"cannot write {output}: {reason} (free some space, or write the "
                           "outputs to another disk: paths.outputs)")
    if code in _READ_ONLY:
        return OutputError(f"cannot write {output}: {_existing_folder(output)} "
                           f"{_READ_ONLY[code]}")
    return None


def _existing_folder(path: str | os.PathLike) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    while folder and not os.path.isdir(folder) and folder != os.path.dirname(folder):
        folder = os.path.dirname(folder)
    return folder


# --- transient or not: whether trying the same work again may succeed -----------------------

# errno values of network trouble that a second try may outlast
_TRANSIENT_ERRNOS = {errno.ECONNRESET, errno.ECONNREFUSED, errno.ECONNABORTED, errno.ETIMEDOUT,
                     errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.ENETRESET,
                     errno.EPIPE, errno.EAGAIN, socket.EAI_AGAIN}
# Bugs, bad input and exhausted resources: the same again fails the same way.
_PERMANENT = (DataError, ConfigError, ValidationFailed, OutputError, MemoryError, ValueError,
              TypeError, KeyError, IndexError, AttributeError, NotImplementedError,
              AssertionError, ImportError, RecursionError)


def is_transient(exc: BaseException) -> bool:
    """True for errors a retry may cure: lost or refused connections, timeouts, HTTP 5xx, 408
    and 429 (from requests, urllib3, httpx or MLflow), a locked SQLite database. False for
    danlu's own errors, bad input, bugs, out of memory (torch's "out of memory" too) and full
    or read-only disks. An error of another kind is transient when its cause is."""
    for _ in range(8):  # a chain of causes, not a cycle
        verdict = _verdict(exc)
        if verdict is not None:
            return verdict
        nxt = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        if nxt is None:
            return False
        exc = nxt
    return False


def _verdict(exc: BaseException) -> bool | None:
    """True or False when the type says; None to look at the cause."""
    if isinstance(exc, _PERMANENT):
        return False
    if isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower():
        return False  # torch.OutOfMemoryError and the CPU allocator's RuntimeError
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    status = _http_status(exc)
    if status is not None:
        return status >= 500 or status in (408, 429)
    if (found := _library_transient(exc)) is not None:
        return found
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.errno in _TRANSIENT_ERRNOS
    return None


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status of an error response (requests, httpx, MLflow's REST client)."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        return status
    mlflow = sys.modules.get("mlflow.exceptions")
    if mlflow is not None and isinstance(exc, mlflow.MlflowException):
        # a REST reply from the server, or one built from an HTTP status by MLflow's client
        if isinstance(exc, mlflow.RestException) or str(exc).startswith("API request to endpoint"):
            return exc.get_http_status_code()
    return None


def _library_transient(exc: BaseException) -> bool | None:
    """Connection and timeout errors of the HTTP libraries (imported only if in use)."""
    if (rex := sys.modules.get("requests.exceptions")) is not None:
        if isinstance(exc, rex.SSLError):
            return False  # a certificate does not fix itself
        if isinstance(exc, (rex.ConnectionError, rex.Timeout, rex.ChunkedEncodingError,
                            rex.RetryError)):
            return True
    if (uex := sys.modules.get("urllib3.exceptions")) is not None:
        if isinstance(exc, (uex.TimeoutError, uex.ProtocolError, uex.NewConnectionError,
                            uex.MaxRetryError)):
            return True
    if (httpx := sys.modules.get("httpx")) is not None and isinstance(exc, httpx.TransportError):
        return True
    if (sqlite := sys.modules.get("sqlite3")) is not None and isinstance(
            exc, sqlite.OperationalError):
        return "database is locked" in str(exc)
    return None
