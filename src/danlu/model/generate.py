"""Generation with a danlu model, used by every stage: greedy continuations (evaluation, and
the coming chat command) and seeded top-k samples during pretraining.

A sample during pretraining shows what the model writes after a BOS, so a run's progress can
be read, not only plotted. Seeded top-k sampling with its own generator (the
training RNG is untouched, so a run with samples trains exactly like one without), and a
plain forward per token: it works the same on a DDP or FSDP2 model, whose ranks all call it
with the same inputs. Under FSDP2 each forward is collective (its all-gathers), so every rank
takes rank 0's token: one whose logits differed by a rounding could otherwise stop at an EOS
the others did not draw, and leave them waiting."""

from __future__ import annotations

from typing import Any

from danlu.errors import DataError
from danlu.tokens.chat import BOS, EOS

TEMPERATURE = 0.8
TOP_K = 50


def sample_text(model, tokenizer, n_tokens: int, device: str, seed: int, dist=None) -> str:
    import torch

    bos, eos = tokenizer.convert_tokens_to_ids([BOS, EOS])
    context = model.config.max_position_embeddings
    generator = torch.Generator(device="cpu").manual_seed(seed)
    ids = torch.tensor([[bos]], device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for _ in range(n_tokens):
                logits = model(input_ids=ids[:, -context:]).logits[0, -1].float().cpu()
                top = torch.topk(logits / TEMPERATURE, min(TOP_K, logits.numel()))
                choice = torch.multinomial(torch.softmax(top.values, -1), 1, generator=generator)
                token = _agreed(int(top.indices[choice]), dist)
                if token == eos:
                    break
                ids = torch.cat([ids, torch.tensor([[token]], device=device)], dim=1)
    finally:
        model.train(was_training)
    return tokenizer.decode(ids[0, 1:].tolist(), skip_special_tokens=True)


def _agreed(token: int, dist) -> int:
    """Rank 0's token on every rank of a sharded (FSDP2) run; `token` otherwise."""
    if dist is None or not dist.sharded:
        return token
    import torch
    import torch.distributed as td

    chosen = torch.tensor([token], device=dist.device)
    td.broadcast(chosen, src=0)
    return int(chosen.item())


def special_token_id(tokenizer: Any, token: str) -> int:
    """The id of one of danlu's special tokens; a tokenizer without it was not made by danlu."""
    token_id = tokenizer.convert_tokens_to_ids(token)
    if token_id is None or token_id == tokenizer.unk_token_id:
        raise DataError(
            f"the tokenizer has no {token} token; was it trained by danlu's tokenizer stage?"
        )
    return token_id


def greedy_continuation(
    model: Any, prompt_ids: list[int], *, max_new_tokens: int, stop_ids: list[int]
) -> list[int]:
    """The new token ids of a greedy generation, the stop token included when one was reached
    (danlu.model.stream's loop: right for prompt-learning models too, where generate() is not)."""
    from danlu.model.stream import new_token_ids, token_picker

    model.eval()
    return list(new_token_ids(model, None, list(prompt_ids), max_new_tokens=max_new_tokens,
                              pick=token_picker(0.0, 1.0), stops=set(stop_ids)))