"""Multiple-choice scoring by log-likelihood, giving lm-evaluation-harness 0.4's numbers, faster.

Each (context, continuation) pair is tokenised and truncated exactly as lm-eval's HFLM does with
`add_bos_token=True`, and scored as the sum of the continuation tokens' float32 log-softmax. HFLM
runs every choice's whole row through the model; here a context runs once for all its choices:
one sequence holds the context and then each continuation, which a 4-D attention mask lets see
the context and itself only, with positions that go on from the context's length. A
four-choice item costs one context and four endings instead of four of each, in one forward
(a KV cache copied per choice did the same work in more, smaller forwards: 1.4x against 2.2x).

A peft prompt-learning model (prompt, P- or prefix tuning) puts its virtual tokens before the
input, so a mask and positions built here would not line up with them: it is scored the plain
way, each row in full, which is also the oracle the shared path is tested against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from danlu.errors import ConfigError, DataError

# Padding sits right of every real token and is never attended by one (causal attention, and
# masked where a continuation follows), so its id does not matter.
_PAD_ID = 0


@dataclass(frozen=True)
class ChoiceRequest:
    """One item: the full prompt and each choice as lm-eval sends it (delimiter + choice text)."""

    context: str
    continuations: tuple[str, ...]


# The tokens that condition a continuation (the context, left-truncated) and the continuation's.
Pair = tuple[tuple[int, ...], tuple[int, ...]]


def encode_pair(tokenizer: Any, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """Context and continuation token ids as lm-eval 0.4's HFLM makes them (add_bos_token=True)."""
    prefix_id = tokenizer.bos_token_id
    if prefix_id is None:
        prefix_id = tokenizer.eos_token_id
    bos_text = tokenizer.decode([prefix_id])

    def encode(text: str) -> list[int]:
        # HFLM adds the tokenizer's special tokens (danlu's adds <|bos|>, as every training
        # document starts with it) unless the text already starts with that token.
        return tokenizer.encode(text, add_special_tokens=not text.startswith(bos_text),
                                verbose=False)

    if context == "":
        cont = tokenizer.encode(continuation, add_special_tokens=False, verbose=False)
        if cont and cont[0] == prefix_id:
            return cont[:1], cont[1:]
        return [prefix_id], cont
    # Trailing spaces go to the continuation, where the tokenizer joins them to the next word.
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
    # The continuation is the tail of the whole encoding: the boundary tokenises as in one text.
    context_ids = encode(context)
    return context_ids, encode(context + continuation)[len(context_ids):]


def scored_pairs(tokenizer: Any, requests: Sequence[ChoiceRequest], max_length: int
                 ) -> list[list[Pair]]:
    """Per request, per choice: the conditioning tokens and the continuation's, truncated as
    HFLM truncates, keeping the last max_length + 1 tokens of context + continuation."""
    pairs = []
    for item, request in enumerate(requests):
        if not request.continuations:
            raise DataError(f"item {item}: no choices to score")
        row = []
        for choice, continuation in enumerate(request.continuations):
            context_ids, cont_ids = encode_pair(tokenizer, request.context, continuation)
            if not cont_ids:
                raise DataError(f"item {item}, choice {choice}: the continuation "
                                f"{continuation!r} has no tokens of its own after the context")
            if len(cont_ids) > max_length:
                raise DataError(f"item {item}, choice {choice}: the continuation has "
                                f"{len(cont_ids)} tokens, more than max_length={max_length}")
            whole = (context_ids + cont_ids)[-(max_length + 1):]
            row.append((tuple(whole[: len(whole) - len(cont_ids)]), tuple(cont_ids)))
        pairs.append(row)
    return pairs


def loglikelihoods(model: Any, tokenizer: Any, requests: Sequence[ChoiceRequest], *,
                   batch_size: int, max_length: int, share_context: bool | None = None
                   ) -> list[list[float]]:
    """Summed log-probability of each continuation given its context, in input order.

    batch_size counts contexts per forward on the shared path (each with all its
    continuations) and rows on the plain one, as lm-eval counts them.
    share_context=None shares unless the model is a prompt-learning one.
    """
    import torch

    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    if max_length < 1:
        raise ConfigError(f"max_length must be at least 1, got {max_length}")
    prompt_learning = _is_prompt_learning(model)
    if share_context is None:
        share_context = not prompt_learning
    elif share_context and prompt_learning:
        raise ConfigError("a prompt-learning model cannot share a context's forward pass; "
                          "use share_context=False")
    pairs = scored_pairs(tokenizer, requests, max_length)
    flat = [pair for row in pairs for pair in row]
    model.eval()
    with torch.no_grad():
        scores = (_score_packed if share_context else _score_rows)(model, flat, batch_size)
    out, start = [], 0
    for row in pairs:
        out.append(scores[start : start + len(row)])
        start += len(row)
    return out


def _is_prompt_learning(model: Any) -> bool:
    return bool(getattr(getattr(model, "active_peft_config", None), "is_prompt_learning", False))


def _right_padded(rows: Sequence[Sequence[int]], device: Any):
    import torch

    ids = torch.full((len(rows), max(len(r) for r in rows)), _PAD_ID, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return ids.to(device)


def _summed(log_probs, targets: Sequence[Sequence[int]]) -> list[float]:
    """Sum of log_probs[row, t, targets[row][t]] over each row's own targets."""
    import torch

    ids = _right_padded(targets, log_probs.device)
    picked = log_probs.gather(-1, ids.unsqueeze(-1)).squeeze(-1)
    lengths = torch.tensor([len(t) for t in targets], device=log_probs.device)
    keep = torch.arange(ids.shape[1], device=ids.device) < lengths[:, None]
    return [float(row[mask].sum()) for row, mask in zip(picked, keep)]


def _score_rows(model: Any, pairs: Sequence[Pair], batch_size: int) -> list[float]:
    """The plain path: each row (context + continuation minus its last token) in full, as HFLM."""
    import torch
    import torch.nn.functional as F

    device = next(model.parameters()).device
    # Longest first, like HFLM: padding stays small and an out-of-memory shows at once.
    order = sorted(range(len(pairs)), key=lambda i: -(len(pairs[i][0]) + len(pairs[i][1])))
    scores = [0.0] * len(pairs)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        inputs = [pairs[i][0] + pairs[i][1][:-1] for i in batch]
        ids = _right_padded(inputs, device)
        width = ids.shape[1]
        mask = (torch.arange(width, device=device)
                < torch.tensor([len(r) for r in inputs], device=device)[:, None]).long()
        logits = model(input_ids=ids, attention_mask=mask).logits
        logits = logits[:, -width:]  # a prompt-learning model also returns its virtual tokens
        cont_width = max(len(pairs[i][1]) for i in batch)
        # Each row's continuation scores sit at its last len(continuation) input positions.
        rows = torch.stack([
            F.pad(logits[r, len(inp) - len(pairs[i][1]) : len(inp)],
                  (0, 0, 0, cont_width - len(pairs[i][1])))
            for r, (i, inp) in enumerate(zip(batch, inputs))])
        summed = _summed(F.log_softmax(rows.float(), dim=-1), [pairs[i][1] for i in batch])
        for i, score in zip(batch, summed):
            scores[i] = score
    return scores


def choice_metrics(lls: Sequence[Sequence[float]], golds: Sequence[int],
                   choices: Sequence[Sequence[str]]) -> dict[str, Any]:
    """acc, acc_norm (ll per character of the choice text) and acc_bytes (per UTF-8 byte), as
    lm-eval 0.4 computes them (ties go to the first choice), and each item's predictions.

    `choices` are the choice texts without the target delimiter: lm-eval measures those."""
    if not (len(lls) == len(golds) == len(choices)):
        raise DataError(f"{len(lls)} score lists, {len(golds)} golds and {len(choices)} choice "
                        "lists: expected one of each per item")
    if not lls:
        raise DataError("no items to score")
    preds: dict[str, list[int]] = {"pred": [], "pred_norm": [], "pred_bytes": []}
    for item, (scores, gold, texts) in enumerate(zip(lls, golds, choices)):
        if not texts:
            raise DataError(f"item {item}: no choices")
        if len(scores) != len(texts):
            raise DataError(f"item {item}: {len(scores)} scores for {len(texts)} choices")
        if not 0 <= gold < len(texts):
            raise DataError(f"item {item}: gold {gold} is not a choice index (0-{len(texts) - 1})")
        if any(text == "" for text in texts):
            raise DataError(f"item {item}: an empty choice text has no length to normalise by")
        scores = np.asarray(scores, dtype=np.float64)
        preds["pred"].append(int(np.argmax(scores)))
        preds["pred_norm"].append(int(np.argmax(scores / [float(len(t)) for t in texts])))
        preds["pred_bytes"].append(int(np.argmax(scores / [float(len(t.encode())) for t in texts])))
    gold = np.asarray(golds)
    return {
        "acc": float(np.mean(np.asarray(preds["pred"]) == gold)),
        "acc_norm": float(np.mean(np.asarray(preds["pred_norm"]) == gold)),
        "acc_bytes": float(np.mean(np.asarray(preds["pred_bytes"]) == gold)),
        "items": len(golds),
        **preds,
    }


def centered_accuracy(acc: float, num_choices_per_item: Sequence[int]) -> float:
    """Accuracy rescaled so that guessing scores 0 and a perfect score 1 (DCLM's CORE)."""
    if not num_choices_per_item:
        raise DataError("no items: chance accuracy is undefined")
    if min(num_choices_per_item) < 2:
        raise DataError("every item needs at least 2 choices: with one, guessing is always right")
    chance = float(np.mean([1.0 / n for n in num_choices_per_item]))
    return (acc - chance) / (1.0 - chance)


def _score_packed(model: Any, pairs: Sequence[Pair], batch_size: int) -> list[float]:
    """The shared path in one forward per batch of contexts: each row holds a context and,
    after it, every one of its continuations (less their last token), each continuation
    attending to the context and to itself only (a 4-D mask), its positions going on from the
    context's length, as if it followed the context alone."""
    import torch
    import torch.nn.functional as F

    device = next(model.parameters()).device
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, (prefix, _) in enumerate(pairs):
        groups.setdefault(prefix, []).append(index)
    prefixes = sorted(groups, key=lambda p: -(len(p) + sum(len(pairs[i][1]) - 1
                                                            for i in groups[p])))
    scores = [0.0] * len(pairs)
    for start in range(0, len(prefixes), batch_size):
        batch = prefixes[start : start + batch_size]
        rows, positions, spans = [], [], []
        for prefix in batch:
            row, pos, row_spans = list(prefix), list(range(len(prefix))), []
            for index in groups[prefix]:
                tail = pairs[index][1][:-1]
                row_spans.append((index, len(row), len(tail)))
                row += tail
                pos += range(len(prefix), len(prefix) + len(tail))
            rows.append(row)
            positions.append(pos)
            spans.append(row_spans)
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), _PAD_ID, dtype=torch.long)
        pos_ids = torch.zeros((len(rows), width), dtype=torch.long)
        allowed = torch.zeros((len(rows), 1, width, width), dtype=torch.bool)
        for r, (prefix, row, pos, row_spans) in enumerate(zip(batch, rows, positions, spans)):
            ids[r, : len(row)] = torch.tensor(row)
            pos_ids[r, : len(pos)] = torch.tensor(pos)
            n = len(prefix)
            allowed[r, 0, :n, :n] = torch.ones(n, n, dtype=torch.bool).tril()
            for _, begin, length in row_spans:
                allowed[r, 0, begin : begin + length, :n] = True
                allowed[r, 0, begin : begin + length, begin : begin + length] = \
                    torch.ones(length, length, dtype=torch.bool).tril()
            # padding attends to the first token only: no row of the mask may be empty
            allowed[r, 0, len(row):, 0] = True
        logits = model(input_ids=ids.to(device), position_ids=pos_ids.to(device),
                       attention_mask=_as_model_mask(model, allowed.to(device))).logits
        for r, (prefix, row_spans) in enumerate(zip(batch, spans)):
            n = len(prefix)
            for index, begin, length in row_spans:
                cont = pairs[index][1]
                # the context's last position predicts the first token; the tail the rest
                picked = torch.cat([logits[r, n - 1 : n], logits[r, begin : begin + length]])
                log_probs = F.log_softmax(picked.float(), dim=-1)
                scores[index] = float(log_probs.gather(
                    -1, torch.tensor(cont, device=log_probs.device)[:, None]).sum())
    return scores


def _as_model_mask(model: Any, allowed: Any) -> Any:
    """A boolean mask for SDPA and flex attention; an additive float mask for eager."""
    import torch

    if getattr(model.config, "_attn_implementation", "sdpa") == "eager":
        dtype = next(model.parameters()).dtype
        return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(
            ~allowed, torch.finfo(dtype).min)
    return allowed
