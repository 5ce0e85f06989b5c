"""A flow that only waits: the zombie test's stand-in for a long training run on a worker."""

import time

from prefect import flow


@flow(name="danlu-sleepy")
def sleepy(params_path: str, overrides: list[str], seconds: float = 600) -> float:
    time.sleep(seconds)
    return seconds
