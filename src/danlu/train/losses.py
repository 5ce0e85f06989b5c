"""The losses trainers share: token cross-entropy over next-token targets (labels equal to
IGNORE_INDEX, prompts and padding, are left out), compiled with the model when asked. Pairwise
and preference losses (reward model, DPO) join here."""

from __future__ import annotations

from collections.abc import Callable

from danlu.tokens.chat import IGNORE_INDEX
from danlu.train.distributed import unwrap

__all__ = ["IGNORE_INDEX", "loss_function", "token_loss"]


def token_loss(model, x, y):
    """Mean cross-entropy of next-token targets y (IGNORE_INDEX excluded) given inputs x."""
    import torch.nn.functional as F

    logits = model(input_ids=x).logits
    return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1),
                           ignore_index=IGNORE_INDEX)


def loss_function(model, compile_model: bool) -> Callable:
    """`(x, y) -> token_loss(model, x, y)`, compiled as one graph with the model when asked: the
    fp32 upcast and the cross-entropy over [tokens, vocabulary] logits then fuse with the
    output projection, where eagerly they are passes of their own over a tensor that is the
    largest of the step (16 x 1,024 x 50,304 fp32 logits: 3.3 GB). Compiled calls run with
    plain causal attention (`model.llama.causal_attention`), so that SDPA keeps its flash
    kernel on CUDA."""
    def loss_of(x, y):
        return token_loss(model, x, y)

    if not compile_model:
        return loss_of
    import torch

    from danlu.model.llama import causal_attention

    compiled = torch.compile(loss_of)

    def compiled_loss(x, y):
        with causal_attention(unwrap(model)):
            return compiled(x, y)

    return compiled_loss
