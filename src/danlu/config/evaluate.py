"""params.yaml `evaluate`: the task suite, decontamination, the champion gate, the report card."""

from __future__ import annotations

from pydantic import Field

from danlu.config.section import Section


class DecontaminateConfig(Section):
    enabled: bool
    # 8 is the floor: shorter texts are checked by their 8-grams, GPT-3's smallest N
    ngram: int = Field(ge=8, description="words per n-gram (GPT-3: 13)")
    clean_only: bool = Field(description="score only items without overlap")


class GateConfig(Section):
    metric: str = Field(description="`core` or `<task>.<metric>`, e.g. heldout.bits_per_byte")
    higher_is_better: bool
    margin: float = Field(ge=0, description="how much a new version must beat the champion by")


class EvaluateConfig(Section):
    tasks: list[str] = Field(min_length=1, description="task files or globs, from the root")
    batch_size: int = Field(ge=1, description="contexts per forward pass (memory only)")
    max_new_tokens: int = Field(ge=1, description="the registered models' generation length")
    num_samples: int = Field(ge=0, description="rows per generation task in the report")
    decontaminate: DecontaminateConfig
    gate: GateConfig
    cost_per_hour: float = Field(ge=0, description="machine price per hour for the report "
                                 "(0: none)")
