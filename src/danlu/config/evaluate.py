"""params.yaml `evaluate`: held-out text, prompts and generation settings."""

from __future__ import annotations

from pydantic import Field

from danlu.config.section import Section


class EvaluateConfig(Section):
    heldout: str
    prompts: str
    max_new_tokens: int = Field(ge=1)
    num_samples: int = Field(ge=0)
