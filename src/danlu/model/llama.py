"""Build the Llama-family model from a preset: transformers' LlamaForCausalLM, so the saved
folder loads anywhere with AutoModelForCausalLM and gives exactly the logits seen in training."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
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


CAUSAL_SDPA = "danlu_causal_sdpa"  # transformers' SDPA attention, with no mask tensor built


@contextlib.contextmanager
def causal_attention(model) -> Iterator[None]:
    """Plain causal attention for `model` (an HF causal LM, or a peft model around one) while
    the context lasts: SDPA with is_causal=True and no mask tensor, which is what eager
    transformers already does for unpadded batches. Under torch.compile it does not:
    transformers (with torch < 2.14) builds a full [batch, 1, T, T] causal mask while dynamo
    traces, and with a mask tensor SDPA cannot use its flash kernel on CUDA. Only for calls
    without an attention_mask over whole sequences (training: padding is ignored in the
    targets, never attended around): a model with another attention implementation
    (eager, flash_attention_2) is left as it is."""
    config = model.config
    before = getattr(config, "_attn_implementation", None)
    if before != "sdpa":
        yield
        return
    _register_causal_sdpa()
    config._attn_implementation = CAUSAL_SDPA
    try:
        yield
    finally:
        config._attn_implementation = before


@functools.cache
def _register_causal_sdpa() -> None:
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    AttentionInterface.register(CAUSAL_SDPA, sdpa_attention_forward)
    AttentionMaskInterface.register(CAUSAL_SDPA, _no_mask)


def _no_mask(*args, **kwargs) -> None:
    return None


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
