"""The parallel encoder gives, in order, the ids `Tokenizer.encode` gives for each document."""

from __future__ import annotations

import random

import numpy as np
import pytest
from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers

from danlu.errors import DataError
from danlu.tokenizer import encode as encode_module
from danlu.tokens.chat import SPECIAL_TOKENS
from danlu.tokenizer.bpe_ranks import installed, rank_mismatch
from danlu.tokenizer.encode import TextEncoder, encode_texts
from danlu.tokenizer.train import replace_lone_surrogates


ENGINES = [
    *(pytest.param(e, marks=pytest.mark.skipif(not installed(e), reason=f"{e} is not installed"))
      for e in ("tiktoken",)),
    "hf",
]

# Characters a web corpus throws at a tokenizer, weighted towards the awkward ones.
_POOLS = [
    "abcdefghijklmnopqrstuvwxyz ABCXYZ",
    "0123456789",
    " \t\n\r\n  \u00a0\u3000\u2028",
    ".,;:!?'\"()[]{}<>|/\\-_=+*&^%$#@~`",
    "éèêëñöüßçÅØæ",
    "\u0301\u0308\u0327\u20dd",  # combining marks
    "日本語のテキスト中文字符한국어",
    "😀🎉👍🏽👨\u200d👩\u200d👧🇫🇷",
    "\ud800\udfff\udbff",  # lone surrogates
    "<|bos|><|end|><|user|>",
]


def _english(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    words = "the of and to in is it's they'll king 1984 naïve 日本".split()
    lengths = [rng.randint(0, 80) for _ in range(n)]
    return [" ".join(rng.choice(words) for _ in range(k)) + ".\n" for k in lengths]


def _random_text(rng: random.Random) -> str:
    pieces = []
    for _ in range(rng.randint(0, 40)):
        pool = rng.choice(_POOLS)
        pieces.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 6))))
        if rng.random() < 0.3:
            pieces.append(rng.choice(["<|bos|>", "<|end|>", "'s", "'LL", " the", "\r\n"]))
    return "".join(pieces)


def _reference(tokenizer: Tokenizer, text: str) -> list[int]:
    """Plain `Tokenizer.encode`, special tokens in the text treated as text."""
    plain = Tokenizer.from_str(tokenizer.to_str())
    plain.encode_special_tokens = True
    return plain.encode(replace_lone_surrogates(text), add_special_tokens=False).ids


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir) -> Tokenizer:
    return Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))


@pytest.fixture(scope="module")
def reference(tokenizer):
    plain = Tokenizer.from_str(tokenizer.to_str())
    plain.encode_special_tokens = True
    return lambda texts: [
        plain.encode(replace_lone_surrogates(t), add_special_tokens=False).ids for t in texts
    ]


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of a few documents, so a small corpus spreads over many tasks and workers."""
    monkeypatch.setattr(encode_module, "_CHUNK_BYTES", 300)
    monkeypatch.setattr(encode_module, "_FORK_CHUNK_BYTES", 300)
    monkeypatch.setattr(encode_module, "_CHUNK_DOCS", 3)
    monkeypatch.setattr(encode_module, "_AHEAD", 1)


def test_danlu_tokenizer_uses_a_rank_engine(tokenizer, tokenizer_dir):
    assert rank_mismatch(tokenizer) is None
    expected = "tiktoken" if installed("tiktoken") else "hf"
    assert TextEncoder(tokenizer_dir).engine == expected  # a saved folder loads too


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_same_ids_as_encode_in_order(tokenizer, reference, engine, workers, small_chunks):
    texts = _english(200, seed=7)
    got = list(encode_texts(tokenizer, iter(texts), workers, engine=engine))
    assert len(got) == len(texts)
    assert [g.tolist() for g in got] == reference(texts)
    assert all(g.dtype == np.uint16 for g in got)


_REAL_RANGE = encode_module._encode_range


def _range_with_pid(bounds):
    """_encode_range that notes which process ran it (module level: the pool pickles it). It
    takes a little while, as a real range does: otherwise the first worker up could take every
    range before the second one starts (seen once on a loaded 2-core machine)."""
    import os
    import time

    with open(os.environ["DANLU_TEST_PIDS"], "a") as fh:
        fh.write(f"{os.getpid()}\n")
    time.sleep(0.05)
    return _REAL_RANGE(bounds)


@pytest.mark.skipif(encode_module._FORK is None, reason="forked workers are Linux-only")
def test_a_list_is_encoded_in_forked_workers_with_the_same_ids(tokenizer, reference, small_chunks,
                                                             monkeypatch, tmp_path):
    import os

    texts = _english(200, seed=3)
    monkeypatch.setenv("DANLU_TEST_PIDS", str(tmp_path / "pids"))
    monkeypatch.setattr(encode_module, "_encode_range", _range_with_pid)
    got = [g.tolist() for g in encode_texts(tokenizer, texts, 2, engine="tiktoken")]
    assert got == reference(texts)
    pids = set((tmp_path / "pids").read_text().split())
    assert len(pids) == 2 and str(os.getpid()) not in pids  # two workers, neither this process
    assert encode_module._FORKED is None  # nothing left pointing at the texts


@pytest.mark.parametrize("engine", ENGINES)
def test_random_unicode_round_trips(tokenizer, reference, engine, small_chunks):
    rng = random.Random(0)
    texts = [_random_text(rng) for _ in range(300)]
    got = [g.tolist() for g in encode_texts(tokenizer, texts, 2, engine=engine)]
    assert got == reference(texts)
    for text, ids in zip(texts, got):
        assert tokenizer.decode(ids, skip_special_tokens=False) == replace_lone_surrogates(text)


@pytest.mark.parametrize("engine", ENGINES)
def test_special_tokens_in_text_are_text(tokenizer, engine):
    special_ids = {tokenizer.token_to_id(t) for t in SPECIAL_TOKENS}
    encoder = TextEncoder(tokenizer, engine=engine)
    text = "a <|bos|> b<|end|>\n<|assistant|>"
    ids = encoder.encode(text).tolist()
    assert not special_ids & set(ids)
    assert tokenizer.decode(ids, skip_special_tokens=False) == text
    # Mixed with documents that do not hold one: each still encoded on its own.
    texts = ["plain one", text, "", "<|bos|>", "plain two"]
    got = [g.tolist() for g in encoder.encode_texts(texts, 2)]
    assert got == [_reference(tokenizer, t) for t in texts]


@pytest.mark.parametrize("engine", ENGINES)
def test_empty_texts(tokenizer, engine, small_chunks):
    encoder = TextEncoder(tokenizer, engine=engine)
    assert list(encoder.encode_texts([], 2)) == []
    texts = ["", "x", "", "", "hello world", ""]
    got = [g.tolist() for g in encoder.encode_texts(texts, 2)]
    assert [len(g) for g in got[:4]] == [0, 1, 0, 0] and got[-1] == []
    assert got == [_reference(tokenizer, t) for t in texts]


@pytest.mark.parametrize("engine", ENGINES)
def test_consumer_may_stop_early(tokenizer, engine, small_chunks):
    endless = (f"document number {i}" for i in range(10**9))
    stream = encode_texts(tokenizer, endless, 2, engine=engine)
    first = [next(stream) for _ in range(50)]
    stream.close()
    assert first[49].tolist() == _reference(tokenizer, "document number 49")


def test_other_tokenizers_fall_back_to_hf(tokenizer):
    other = Tokenizer.from_str(tokenizer.to_str())
    other.normalizer = normalizers.NFKC()
    assert "split pattern" in rank_mismatch(other)
    assert TextEncoder(other).engine == "hf"
    other = Tokenizer.from_str(tokenizer.to_str())
    other.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\s+"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    assert TextEncoder(other).engine == "hf"
    with pytest.raises(DataError, match="tiktoken engine would not match"):
        TextEncoder(other, engine="tiktoken")


def test_missing_tokenizer_folder(tmp_path):
    with pytest.raises(DataError, match="no tokenizer.json"):
        TextEncoder(tmp_path / "nowhere")
