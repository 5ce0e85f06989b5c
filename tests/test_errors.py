"""danlu.errors.is_transient: which errors a retry may cure (connections, timeouts, HTTP 5xx)
and which it cannot (danlu's own errors, bad input, bugs, out of memory, full disks)."""

from __future__ import annotations

import errno
import socket

import pytest

from danlu.errors import (
    ConfigError,
    DataError,
    OutputError,
    TrackingError,
    ValidationFailed,
    is_transient,
)


def caused(outer: BaseException, cause: BaseException) -> BaseException:
    try:
        raise outer from cause
    except BaseException as exc:
        return exc


def http_error(status: int):
    import requests

    response = requests.Response()
    response.status_code = status
    return requests.HTTPError(f"{status} error", response=response)


TRANSIENT = {
    "ConnectionError": lambda: ConnectionError("reset"),
    "ConnectionResetError": lambda: ConnectionResetError(errno.ECONNRESET, "reset by peer"),
    "TimeoutError": lambda: TimeoutError("timed out"),
    "socket.timeout": lambda: socket.timeout("timed out"),
    "OSError ECONNRESET": lambda: OSError(errno.ECONNRESET, "Connection reset by peer"),
    "OSError ETIMEDOUT": lambda: OSError(errno.ETIMEDOUT, "Connection timed out"),
    "DNS try again": lambda: socket.gaierror(socket.EAI_AGAIN, "Temporary failure"),
    "requests ConnectionError": lambda: __import__("requests").ConnectionError("refused"),
    "requests ReadTimeout": lambda: __import__("requests").ReadTimeout("slow"),
    "requests 503": lambda: http_error(503),
    "requests 429": lambda: http_error(429),
    "httpx ConnectError": lambda: __import__("httpx").ConnectError("refused"),
    "sqlite locked": lambda: __import__("sqlite3").OperationalError("database is locked"),
    "a wrapper of a reset": lambda: caused(RuntimeError("upload failed"), ConnectionResetError()),
    "TrackingError from a timeout": lambda: caused(TrackingError("log failed"), TimeoutError()),
}

PERMANENT = {
    "DataError": lambda: DataError("x.jsonl: line 3 is not JSON"),
    "ConfigError": lambda: ConfigError("train.lr: expected a number"),
    "ValidationFailed": lambda: ValidationFailed("curate: 3 expectations failed"),
    "OutputError": lambda: OutputError("outputs/curate: no space left on device"),
    "DataError from a reset": lambda: caused(DataError("bad"), ConnectionResetError()),
    "MemoryError": lambda: MemoryError(),
    "torch OOM": lambda: RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    "ValueError": lambda: ValueError("bad value"),
    "KeyError": lambda: KeyError("text"),
    "plain RuntimeError": lambda: RuntimeError("shapes do not match"),
    "ENOSPC": lambda: OSError(errno.ENOSPC, "No space left on device"),
    "EROFS": lambda: OSError(errno.EROFS, "Read-only file system"),
    "FileNotFoundError": lambda: FileNotFoundError(errno.ENOENT, "missing"),
    "requests 404": lambda: http_error(404),
    "requests SSLError": lambda: __import__("requests").exceptions.SSLError("bad certificate"),
    "httpx 400": lambda: __import__("httpx").HTTPStatusError(
        "bad", request=__import__("httpx").Request("GET", "http://x"),
        response=__import__("httpx").Response(400)),
}


@pytest.mark.parametrize("name", TRANSIENT)
def test_transient(name: str) -> None:
    assert is_transient(TRANSIENT[name]())


@pytest.mark.parametrize("name", PERMANENT)
def test_not_transient(name: str) -> None:
    assert not is_transient(PERMANENT[name]())


def test_mlflow_server_errors_are_transient_and_its_client_errors_are_not() -> None:
    from mlflow.exceptions import MlflowException, RestException

    assert is_transient(RestException({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"}))
    assert is_transient(RestException({"error_code": "INTERNAL_ERROR", "message": "db gone"}))
    assert not is_transient(RestException({"error_code": "RESOURCE_DOES_NOT_EXIST",
                                           "message": "no such run"}))
    assert not is_transient(MlflowException("Invalid metric name: 'a b'"))  # raised locally
    # the REST client's wrapper of a refused connection
    import requests

    try:
        try:
            raise requests.ConnectionError("Max retries exceeded")
        except Exception as e:
            raise MlflowException(f"API request to http://x failed with exception {e}")
    except MlflowException as wrapped:
        assert is_transient(wrapped)


def test_output_error_without_the_output_counts_only_what_is_surely_a_write() -> None:
    from danlu.errors import output_error

    full = output_error(OSError(errno.ENOSPC, "No space left on device", "/data/out/x.bin"))
    assert str(full).startswith("cannot write /data/out/x.bin: no space left on device")
    assert output_error(PermissionError(errno.EACCES, "Permission denied", "/data/in.jsonl")) is None
    assert output_error(FileNotFoundError(errno.ENOENT, "missing", "/x")) is None
    assert output_error(ValueError("x")) is None
