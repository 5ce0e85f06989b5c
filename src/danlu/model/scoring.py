"""Held-out language-model metrics: loss, perplexity and bits per byte, and the unigram baseline.

Both scorers predict exactly the same tokens, the text tokens of each passage (its `<|bos|>` is
context only), so their numbers compare directly. Per-token loss and perplexity depend on the
tokenizer; bits per byte does not, and is the figure to compare across tokenizers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from danlu.errors import ConfigError, DataError
from danlu.tokens.chat import BOS


def text_token_ids(tokenizer: Any, text: str) -> list[int]:
    """The tokens a model predicts in a passage: its text, without any special token added."""
    # verbose=False: long passages are windowed below, so the max-length warning is noise.
    return tokenizer.encode(text, add_special_tokens=False, verbose=False)


def scoring_windows(token_ids: Sequence[int], context_length: int) -> list[list[int]]:
    """Cut a document into windows of at most `context_length` tokens, each predicted token once.

    Window k predicts its tokens after the first; consecutive windows share one token, the last
    one of a window being the first input of the next, since something must condition the next
    prediction. Beyond that one token a window sees nothing before it: no sliding context, so
    tokens deep in a long document are scored with less context than the model could use, which
    makes the loss a little pessimistic but simple and identical for every model.
    """
    if context_length < 2:
        raise ConfigError(f"context_length must be at least 2 to predict a token: {context_length}")
    ids = list(token_ids)
    stride = context_length - 1
    return [ids[start : start + context_length] for start in range(0, max(len(ids) - 1, 0), stride)]


def metrics_from_nll(total_nll: float, tokens: int, num_bytes: int) -> dict[str, float]:
    """loss (nats/token), perplexity and bits per byte from a summed negative log-likelihood."""
    if tokens == 0 or num_bytes == 0:
        raise DataError("no text to score: every held-out passage is empty")
    loss = total_nll / tokens
    return {
        "loss": loss,
        "perplexity": math.exp(loss),
        "bits_per_byte": total_nll / math.log(2) / num_bytes,
        "tokens": tokens,
        "bytes": num_bytes,
    }


def language_model_metrics(
    model: Any, tokenizer: Any, texts: Sequence[str], *, context_length: int, batch_size: int
) -> dict[str, float]:
    """Score each text as `<|bos|> text` in windows of `context_length` (see `scoring_windows`)."""
    import torch
    import torch.nn.functional as F

    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    bos_id = tokenizer.convert_tokens_to_ids(BOS)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else bos_id
    windows: list[list[int]] = []
    tokens = 0
    for text in texts:
        ids = text_token_ids(tokenizer, text)
        tokens += len(ids)
        windows += scoring_windows([bos_id, *ids], context_length)
    num_bytes = sum(len(text.encode("utf-8")) for text in texts)
    # Similar lengths together: less padding, and the sums do not depend on the order.
    windows.sort(key=len, reverse=True)

    device = next(model.parameters()).device
    model.eval()
    total_nll = 0.0
    with torch.no_grad():
        for start in range(0, len(windows), batch_size):
            batch = windows[start : start + batch_size]
            width = len(batch[0])
            input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            labels = torch.full((len(batch), width), -100, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, window in enumerate(batch):
                input_ids[row, : len(window)] = torch.tensor(window)
                labels[row, : len(window)] = torch.tensor(window)
                mask[row, : len(window)] = 1
            logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits
            logits = logits[:, -width:]  # a prompt-learning model also scores its virtual tokens
            # float32 whatever the weights: a bf16 log-softmax would blur the small differences
            # between models that this number is meant to show.
            nll = F.cross_entropy(
                logits[:, :-1].float().reshape(-1, logits.shape[-1]),
                labels[:, 1:].reshape(-1).to(device),
                ignore_index=-100,
                reduction="sum",
            )
            total_nll += float(nll)
    return metrics_from_nll(total_nll, tokens, num_bytes)


def unigram_metrics(
    unigram_counts: np.ndarray, tokenizer: Any, texts: Sequence[str]
) -> dict[str, float]:
    """The same metrics for a unigram model of the training tokens, add-one smoothed."""
    counts = np.asarray(unigram_counts)
    if counts.ndim != 1 or counts.size == 0:
        raise DataError(f"unigram counts must be a non-empty 1-D array, got shape {counts.shape}")
    if np.any(counts < 0):
        raise DataError("unigram counts must not be negative")
    # Add-one smoothing gives every vocabulary entry some mass, so no held-out token costs infinity.
    total = float(counts.sum()) + counts.size
    log_probs = np.log(counts.astype(np.float64) + 1.0) - math.log(total)
    total_nll = 0.0
    tokens = 0
    for text in texts:
        ids = np.asarray(text_token_ids(tokenizer, text), dtype=np.int64)
        if ids.size and ids.max() >= counts.size:
            raise DataError(
                f"token id {int(ids.max())} is outside the unigram counts (vocabulary of "
                f"{counts.size}): the counts come from a different tokenizer"
            )
        total_nll -= float(log_probs[ids].sum())
        tokens += int(ids.size)
    num_bytes = sum(len(text.encode("utf-8")) for text in texts)
    return metrics_from_nll(total_nll, tokens, num_bytes)
