"""A Prefect progress artifact per training loop of a stage, moved on as its steps advance (at
most every few seconds: each move is a request to the server)."""

from __future__ import annotations

import time


class ProgressArtifact:
    """A danlu.train.step_hook hook: `danlu-<stage>-progress`, created at the first step."""

    def __init__(self, stage: str, every_s: float = 2.0):
        self.stage = stage
        self.every_s = every_s
        self.artifact_id = None
        self._last = 0.0

    def __call__(self, prefix: str, done: int, total: int) -> None:
        from prefect.artifacts import create_progress_artifact, update_progress_artifact

        percent = 100.0 * done / max(total, 1)
        description = f"{self.stage}: {prefix} step {done} of {total}"
        now = time.monotonic()
        if self.artifact_id is None:
            self.artifact_id = create_progress_artifact(
                percent, key=f"danlu-{self.stage}-progress", description=description)
        elif done >= total or now - self._last >= self.every_s:
            update_progress_artifact(self.artifact_id, percent, description=description)
        else:
            return
        self._last = now
