"""params.yaml `finetune` (the sft stage: full, LoRA or prompt-learning fine-tuning), `reward`
(the reward model) and `dpo` (preference optimisation)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from danlu.config.section import Section

METHODS = ("full", "lora", "qlora", "prompt_tuning", "p_tuning", "prefix_tuning")
PROMPT_METHODS = ("prompt_tuning", "p_tuning", "prefix_tuning")


class LoraConfig(Section):
    r: int = Field(ge=1, description="rank of the update")
    alpha: float = Field(gt=0, description="the update is scaled by alpha / r")
    dropout: float = Field(ge=0, lt=1)
    target_modules: str | list[str] = Field(
        description="all-linear, or module names such as [q_proj, v_proj]")
    train_special_tokens: bool = Field(
        description="also train the chat tokens' embeddings (peft trainable tokens): "
        "pretraining never showed the base the role and end-of-turn tokens")
    lr: float = Field(gt=0)


class PromptConfig(Section):
    num_virtual_tokens: int = Field(ge=1)
    encoder_hidden_size: int = Field(ge=1, description="p_tuning: the prompt encoder's MLP")
    init_text: str | None = Field(description="prompt_tuning: start from these tokens' "
                                  "embeddings; null = random")
    lr: float = Field(gt=0)


class TrainingSection(Section):
    """The optimisation keys every fine-tuning trainer reads."""
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


class FinetuneConfig(TrainingSection):
    data: str | list[str]
    method: Literal["full", "lora", "qlora", "prompt_tuning", "p_tuning", "prefix_tuning"]
    packing: bool = Field(description="pack short examples into rows; attention stays inside "
                          "each example")
    lora: LoraConfig
    prompt: PromptConfig

    @model_validator(mode="after")
    def _check(self) -> "FinetuneConfig":
        if self.packing and self.method in PROMPT_METHODS:
            raise ValueError(f"finetune.packing works with full, lora and qlora only: peft's "
                             f"{self.method} ignores position ids, so packed examples would "
                             "attend to each other")
        return self

    @property
    def method_lr(self) -> float:
        """The peak learning rate of the configured method."""
        if self.method in ("lora", "qlora"):
            return self.lora.lr
        if self.method in PROMPT_METHODS:
            return self.prompt.lr
        return self.lr


class RewardConfig(TrainingSection):
    data: str | list[str]
    base: Literal["sft", "pretrain"] = Field(description="the model the scalar head sits on")


class DpoConfig(TrainingSection):
    data: str | list[str]
    beta: float = Field(gt=0, description="strength of the pull toward the reference model")
    win_rate_prompts: str = Field(description="held-out prompts: DPO's replies against SFT's, "
                                  "judged by the reward model")
    max_new_tokens: int = Field(ge=1)
