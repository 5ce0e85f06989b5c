"""Build the Llama-family model from a preset: transformers' LlamaForCausalLM, so the saved
folder loads anywhere with AutoModelForCausalLM and gives exactly the logits seen in training."""

from __future__ import annotations

from typing import TYPE_CHECKING

from danlu.errors import ConfigError
from danlu.model.presets import get_preset

if TYPE_CHECKING:
    from transformers import LlamaConfig, LlamaForCausalLM


def llama_config(preset: str, *, vocab_size: int, context_length: int,
                 bos_id: int, eos_id: int, pad_id: int, n_kv_head: int | None = None,
                 tie_embeddings: bool | None = None) -> "LlamaConfig":
    from transformers import LlamaConfig

    p = get_preset(preset)
    kv_heads = n_kv_head or p.n_kv_head
    if p.n_head % kv_heads:
        raise ConfigError(f"model.n_kv_head={kv_heads} must divide the {preset} preset's "
                          f"{p.n_head} query heads")
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=p.n_embd,
        intermediate_size=p.intermediate_size,
        num_hidden_layers=p.n_layer,
        num_attention_heads=p.n_head,
        num_key_value_heads=kv_heads,
        max_position_embeddings=context_length,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=p.tie_embeddings if tie_embeddings is None else tie_embeddings,
        attention_bias=False,
        mlp_bias=False,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        initializer_range=0.02,
    )


def build_model(config: "LlamaConfig", *, seed: int) -> "LlamaForCausalLM":
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.config.use_cache = False
    return model


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
