"""The base of every params.yaml section: unknown keys are errors, values are frozen."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

PARAMS_FILE = "params.yaml"
HUB_PREFIX = "hf://datasets/"  # a curate input named on the Hugging Face hub


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
