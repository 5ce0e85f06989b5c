"""Model options beside the preset: grouped-query attention and tied or untied embeddings, and
that such a model saved by danlu loads with AutoModelForCausalLM with the same logits."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from danlu.errors import ConfigError
from danlu.model.llama import build_model, llama_config
from danlu.model.presets import PRESETS


def test_presets_derive_batch_tokens_and_lr():
    assert PRESETS["d12"].n_embd == 768 and PRESETS["d12"].n_head == 12
    assert PRESETS["d12"].batch_tokens == 524_288 and PRESETS["tiny"].batch_tokens == 2048
    assert PRESETS["d24"].lr < PRESETS["d12"].lr < PRESETS["d6"].lr


def test_grouped_query_untied_model_exports_exactly(tmp_path: Path, tiny_tokenizer_dir: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from danlu.model.saved import save_model

    config = llama_config("tiny", vocab_size=420, context_length=32, bos_id=1, eos_id=2,
                          pad_id=0, n_kv_head=2, tie_embeddings=False)
    assert config.num_key_value_heads == 2 and not config.tie_word_embeddings
    model = build_model(config, seed=3).eval()
    assert model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr()
    save_model(model, AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir)), tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(str(tmp_path)).eval()
    x = torch.randint(0, 420, (2, 16))
    with torch.no_grad():
        assert torch.equal(model(input_ids=x).logits, loaded(input_ids=x).logits)


def test_kv_heads_must_divide_the_query_heads():
    with pytest.raises(ConfigError, match="model.n_kv_head=3 must divide the tiny preset's 4"):
        llama_config("tiny", vocab_size=100, context_length=16, bos_id=1, eos_id=2, pad_id=0,
                     n_kv_head=3)


def test_compiled_attention_is_plain_causal_sdpa():
    """Under torch.compile, transformers would hand SDPA a full causal mask tensor (no flash
    kernel on CUDA); within causal_attention the traced graph calls SDPA with is_causal=True
    and no mask, with the same logits, and the model's attention is restored after."""
    from danlu.model.llama import causal_attention

    model = build_model(llama_config("tiny", vocab_size=256, context_length=32, bos_id=0,
                                     eos_id=1, pad_id=2), seed=0).eval()
    x = torch.randint(0, 256, (2, 32))
    seen = []

    def backend(gm, example_inputs):
        seen.extend(dict(n.kwargs) for n in gm.graph.nodes
                    if "scaled_dot_product_attention" in str(n.target))
        return gm.forward

    def logits(ids):
        return model(input_ids=ids).logits

    with torch.no_grad():
        eager = logits(x)
        torch._dynamo.reset()
        torch.compile(logits, backend=backend)(x)
        assert seen and seen[0]["attn_mask"] is not None  # what transformers does by itself
        seen.clear()
        torch._dynamo.reset()
        with causal_attention(model):
            compiled = torch.compile(logits, backend=backend)(x)
    assert len(seen) == 4 and all(k["attn_mask"] is None and k["is_causal"] for k in seen)
    assert torch.equal(compiled, eager)
    assert model.config._attn_implementation == "sdpa"
