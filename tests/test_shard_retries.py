"""flows.shards.curate_shard retries a shard once after a transient error (a lost connection)
and never after bad data, which would only fail again."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from danlu.errors import DataError

CALLS: list[str] = []


def flaky(job: str) -> str:
    """Fails the first time with `job`'s error, then succeeds."""
    CALLS.append(job)
    if CALLS.count(job) == 1:
        raise {"connection": ConnectionResetError("reset by peer"),
               "data": DataError("in.jsonl: line 3 is not JSON")}[job]
    return f"{job} done"


@pytest.fixture(scope="module")
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


def test_a_lost_connection_is_retried_and_bad_data_is_not(harness) -> None:
    from prefect import flow

    from flows.shards import curate_shard

    @flow
    def shards():
        ok = curate_shard(flaky, "connection", "shard-00000", return_state=True)
        bad = curate_shard(flaky, "data", "shard-00001", return_state=True)
        return ok, bad

    CALLS.clear()
    ok, bad = shards()
    assert ok.is_completed() and ok.result() == "connection done"
    assert bad.is_failed()
    with pytest.raises(DataError, match="line 3"):
        bad.result()
    assert CALLS.count("connection") == 2 and CALLS.count("data") == 1


def has_a_lifeline(job) -> bool:
    import threading

    return any(t.name == "danlu-lifeline" for t in threading.enumerate())


def test_shard_processes_of_a_prefect_server_run_watch_their_parent(
        harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Prefect starts them from its own threads: a watching thread, not the kernel's signal."""
    from prefect import flow
    from prefect.settings import PREFECT_API_URL

    from flows.shards import prefect_shard_runner

    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    runner = prefect_shard_runner(2)
    assert runner is not None

    @flow
    def shards():
        jobs = [SimpleNamespace(name=name) for name in ("a", "b")]
        return list(runner.map(has_a_lifeline, jobs))

    assert shards() == [True, True]
