"""What a stage entry (`danlu.<stage>.stage.run`) returns to the runner, which logs it to the
stage's MLflow run, once: the metrics (as in the stage's metrics file), the facts of the run
that are not params.yaml values (device, parameter count...) as params, and the model
versions it registered."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StageOutcome:
    metrics: dict[str, float]
    params: dict[str, Any] = field(default_factory=dict)
    registered: dict[str, str] = field(default_factory=dict)  # model name -> version
