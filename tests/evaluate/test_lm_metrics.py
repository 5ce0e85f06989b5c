import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from danlu.errors import ConfigError, DataError
from danlu.model.scoring import (
    language_model_metrics,
    scoring_windows,
    text_token_ids,
    unigram_metrics,
)
from danlu.tokens.chat import BOS

TEXTS = ["the cat sat on the mat.", "a big red car ran near the old house.", "bird"]


def window_nll(model, window: list[int]) -> float:
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([window])).logits[0]
    return float(F.cross_entropy(logits[:-1], torch.tensor(window[1:]), reduction="sum"))


def test_metrics_are_finite_and_consistent(model, tokenizer):
    m = language_model_metrics(model, tokenizer, TEXTS, context_length=16, batch_size=2)
    assert all(math.isfinite(m[k]) for k in ("loss", "perplexity", "bits_per_byte"))
    assert m["tokens"] == sum(len(text_token_ids(tokenizer, t)) for t in TEXTS)
    assert m["bytes"] == sum(len(t.encode()) for t in TEXTS)
    assert m["perplexity"] == pytest.approx(math.exp(m["loss"]))
    assert m["bits_per_byte"] == pytest.approx(m["loss"] * m["tokens"] / math.log(2) / m["bytes"])


def test_bits_per_byte_by_hand_on_two_tokens(model, tokenizer):
    (token,) = text_token_ids(tokenizer, "a")  # one byte, one token: [bos, a] is the whole window
    bos = tokenizer.convert_tokens_to_ids(BOS)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([[bos, token]])).logits[0, 0]
    nll = -float(torch.log_softmax(logits, dim=-1)[token])
    m = language_model_metrics(model, tokenizer, ["a"], context_length=8, batch_size=1)
    assert m["tokens"] == 1 and m["bytes"] == 1
    assert m["loss"] == pytest.approx(nll, rel=1e-5)
    assert m["bits_per_byte"] == pytest.approx(nll / math.log(2), rel=1e-5)


def test_uniform_model_costs_log_vocab_per_token(fresh_model, tokenizer):
    torch.nn.init.zeros_(fresh_model.lm_head.weight)  # all logits 0: every token has 1/V
    vocab = fresh_model.config.vocab_size
    m = language_model_metrics(fresh_model, tokenizer, TEXTS, context_length=8, batch_size=3)
    assert m["loss"] == pytest.approx(math.log(vocab), rel=1e-6)
    assert m["bits_per_byte"] == pytest.approx(math.log2(vocab) * m["tokens"] / m["bytes"], rel=1e-6)


@pytest.mark.parametrize("length", [0, 1, 2, 5, 6, 9, 23])
@pytest.mark.parametrize("context", [2, 3, 5])
def test_windows_predict_every_token_exactly_once(length, context):
    ids = list(range(length))
    windows = scoring_windows(ids, context)
    assert all(2 <= len(w) <= context for w in windows)
    assert [t for w in windows for t in w[1:]] == ids[1:]


def test_windows_need_room_to_predict():
    with pytest.raises(ConfigError, match="context_length"):
        scoring_windows([1, 2, 3], 1)


def test_text_longer_than_context_is_scored_window_by_window(model, tokenizer):
    text = " ".join(TEXTS * 6)
    ids = [tokenizer.convert_tokens_to_ids(BOS), *text_token_ids(tokenizer, text)]
    assert len(ids) > 3 * 16
    by_hand = sum(window_nll(model, w) for w in scoring_windows(ids, 16))
    m = language_model_metrics(model, tokenizer, [text], context_length=16, batch_size=2)
    assert m["tokens"] == len(ids) - 1
    assert m["loss"] * m["tokens"] == pytest.approx(by_hand, rel=1e-5)


def test_padding_does_not_change_the_metrics(model, tokenizer):
    texts = [*TEXTS, " ".join(TEXTS * 3)]
    one = language_model_metrics(model, tokenizer, texts, context_length=16, batch_size=1)
    many = language_model_metrics(model, tokenizer, texts, context_length=16, batch_size=4)
    assert many["loss"] == pytest.approx(one["loss"], rel=1e-5)
    assert many["tokens"] == one["tokens"]


def test_nothing_to_score_is_a_data_error(model, tokenizer):
    with pytest.raises(DataError, match="empty"):
        language_model_metrics(model, tokenizer, ["", ""], context_length=8, batch_size=1)


class DigitTokenizer:
    """Each character is its own token id: "01" -> [0, 1]."""

    def encode(self, text, add_special_tokens=False, verbose=True):
        return [int(c) for c in text]


def test_unigram_matches_hand_computation():
    counts = np.array([3, 1, 0, 0])  # add-one: p = [4, 2, 1, 1] / 8
    m = unigram_metrics(counts, DigitTokenizer(), ["01", "3"])
    nll = -(math.log(4 / 8) + math.log(2 / 8) + math.log(1 / 8))  # = 6 ln 2
    assert m["tokens"] == 3 and m["bytes"] == 3
    assert m["loss"] == pytest.approx(nll / 3)
    assert m["perplexity"] == pytest.approx(4.0)
    assert m["bits_per_byte"] == pytest.approx(2.0)


def test_unigram_rejects_counts_of_another_vocabulary():
    with pytest.raises(DataError, match="different tokenizer"):
        unigram_metrics(np.array([1, 1]), DigitTokenizer(), ["05"])


def test_trained_model_beats_the_unigram_baseline(fresh_model, tokenizer):
    text = "the cat sat on the mat. " * 24
    ids = [tokenizer.convert_tokens_to_ids(BOS), *text_token_ids(tokenizer, text)]
    counts = np.bincount(text_token_ids(tokenizer, text), minlength=len(tokenizer))
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(fresh_model.parameters(), lr=1e-2)
    batch = torch.tensor([w for w in scoring_windows(ids, 32) if len(w) == 32])
    fresh_model.train()
    for _ in range(30):
        loss = fresh_model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    model_bpb = language_model_metrics(fresh_model, tokenizer, [text], context_length=32, batch_size=4)
    unigram_bpb = unigram_metrics(counts, tokenizer, [text])
    assert model_bpb["tokens"] == unigram_bpb["tokens"]
    assert model_bpb["bits_per_byte"] < 0.5 * unigram_bpb["bits_per_byte"]
