"""Tiny fixtures made in code: a byte-level BPE tokenizer with danlu's chat format, a random Llama."""

from __future__ import annotations

import random
from pathlib import Path

import pytest


WORDS = (
    "the a cat dog sat ran on under mat house red blue big small tree car river "
    "quickly slowly and with of to near green old new bird sang sings"
).split()


def sentences(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 10))) + "." for _ in range(count)]


def tiny_llama(vocab_size: int, tokenizer, seed: int = 0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return LlamaForCausalLM(config)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """A saved tiny model folder, tokenizer beside it, as the pretrain and SFT stages leave one."""
    from transformers import AutoTokenizer

    from danlu.tokenizer.train import save_tokenizer, train_bpe

    folder = tmp_path_factory.mktemp("tiny-model")
    save_tokenizer(train_bpe(sentences(300), 400, 1), folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tiny_llama(len(tokenizer), tokenizer).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def loaded(model_dir):
    """(model, tokenizer) loaded back from the folder, as the stage loads them."""
    from danlu.model.saved import load_model

    return load_model(model_dir)


@pytest.fixture
def model(loaded):
    return loaded[0]


@pytest.fixture
def tokenizer(loaded):
    return loaded[1]


@pytest.fixture
def fresh_model(tokenizer):
    """A random model of its own, for tests that change weights."""
    return tiny_llama(len(tokenizer), tokenizer, seed=1)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from threads, and on a busy 2-core machine threads spin-wait."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
