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

    from danlu.pretrain.stage import save_model

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
