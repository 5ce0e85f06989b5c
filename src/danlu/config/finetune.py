"""params.yaml `sft`: supervised fine-tuning."""

from __future__ import annotations

from pydantic import Field

from danlu.config.section import Section


class SftConfig(Section):
    data: str
    max_steps: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    lr: float = Field(gt=0)
    min_lr_ratio: float = Field(ge=0, le=1, description="cosine decay ends at lr x this")
    warmup_steps: int = Field(ge=0)
    weight_decay: float = Field(ge=0, description="AdamW, on matrices only")
    grad_clip: float = Field(ge=0, description="max gradient norm; 0 = no clipping")
    eval_every: int | None = Field(ge=1, description="steps between validations; "
                                   "null = four over the run")
    val_fraction: float = Field(gt=0, lt=1)
    max_length: int = Field(ge=16)
