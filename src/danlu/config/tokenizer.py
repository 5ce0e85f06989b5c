"""params.yaml `tokenizer`: the BPE vocabulary, the validation split and the mixture."""

from __future__ import annotations

from pydantic import Field

from danlu.config.section import Section


class MixtureConfig(Section):
    """Training mixture across curated sources, by share of tokens."""

    weights: dict[str, float] = Field(description="source -> target share of tokens; {} = as curated")
    total_tokens: int | None = Field(ge=1, description="tokens in the mixture; null = all curated")


class TokenizerConfig(Section):
    vocab_size: int = Field(ge=512, le=1 << 20)
    min_frequency: int = Field(ge=1)
    val_fraction: float = Field(gt=0, lt=1)
    train_sample_bytes: int | None = Field(
        ge=1, description="UTF-8 bytes of train documents the BPE learns from; null = all")
    mixture: MixtureConfig
