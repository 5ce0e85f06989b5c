"""Shared fixtures: the project's params and the real datasets in ../shared/data (by path, never copied)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DANLU_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real test datasets; tests that need them skip on a clone without ../shared/data."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATA} (set DANLU_SHARED_DATA); CI has them")
    return SHARED_DATA


TEXTS = [
    "The quick brown fox jumps over the lazy dog. " * 3,
    "def add(a, b):\n    return a + b\n",
    "Python's str.split splits a string into a list of words.",
    "What does textwrap.dedent do? It removes common leading whitespace.",
] * 40


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory) -> Path:
    """A small trained byte-level BPE tokenizer with danlu's special tokens and chat template."""
    from danlu.tokenizer.train import save_tokenizer, train_bpe

    folder = tmp_path_factory.mktemp("tiny-tokenizer")
    save_tokenizer(train_bpe(TEXTS, 400, 2), folder, model_max_length=64)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_tokenizer_dir: Path) -> Path:
    """A randomly initialised tiny Llama saved as danlu saves models (with its tokenizer)."""
    from transformers import AutoTokenizer

    from danlu.model.llama import build_model, llama_config
    from danlu.pretrain.stage import generation_ids, save_model

    tok = AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))
    ids = generation_ids(tok)
    config = llama_config("tiny", vocab_size=len(tok), context_length=64,
                          bos_id=ids["bos_token_id"], eos_id=ids["eos_token_id"][1],
                          pad_id=ids["pad_token_id"])
    folder = tmp_path_factory.mktemp("tiny-model")
    save_model(build_model(config, seed=0), tok, folder)
    return folder
