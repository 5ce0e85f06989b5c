"""The losses trainers share: token cross-entropy over next-token targets (labels equal to
IGNORE_INDEX, prompts and padding, are left out), compiled with the model when asked; the
sum of a reply's log-probabilities; the pairwise (Bradley-Terry) loss of a reward model and
the DPO loss (Rafailov et al. 2023), written as TRL's DPOTrainer computes its sigmoid loss."""

from __future__ import annotations

from collections.abc import Callable

from danlu.tokens.chat import IGNORE_INDEX
from danlu.train.distributed import unwrap

__all__ = ["IGNORE_INDEX", "dpo_loss", "loss_function", "pairwise_loss", "reply_logps",
           "token_loss"]


def token_loss(model, x, y, position_ids=None):
    """Mean cross-entropy of next-token targets y (IGNORE_INDEX excluded) given inputs x.
    `position_ids` that restart inside a row (packed examples) make transformers build a
    block-diagonal causal mask: no token attends across an example's boundary. A peft
    prompt-tuning model returns logits for its virtual tokens too, before the inputs': only
    the inputs' last x.size(1) positions are scored."""
    import torch.nn.functional as F

    extra = {} if position_ids is None else {"position_ids": position_ids}
    # use_cache=False: with a cache object transformers would not build the packed mask
    logits = model(input_ids=x, use_cache=False, **extra).logits[:, -x.size(1):]
    return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1),
                           ignore_index=IGNORE_INDEX)


def loss_function(model, compile_model: bool) -> Callable:
    """`(x, y[, position_ids]) -> token_loss(...)`, compiled as one graph with the model when
    asked: the fp32 upcast and the cross-entropy over [tokens, vocabulary] logits then fuse
    with the output projection, where eagerly they are passes of their own over a tensor that
    is the largest of the step (16 x 1,024 x 50,304 fp32 logits: 3.3 GB). Compiled calls run
    with plain causal attention (`model.llama.causal_attention`), so that SDPA keeps its flash
    kernel on CUDA; packed rows (position ids) are never compiled, they need their mask."""
    def loss_of(x, y, position_ids=None):
        return token_loss(model, x, y, position_ids)

    if not compile_model:
        return loss_of
    import torch

    from danlu.model.llama import causal_attention

    compiled = torch.compile(loss_of)

    def compiled_loss(x, y, position_ids=None):
        if position_ids is not None:
            return loss_of(x, y, position_ids)
        with causal_attention(unwrap(model)):
            return compiled(x, y)

    return compiled_loss


def reply_logps(logits, labels):
    """Per row, the summed log-probability of the label tokens (next-token labels aligned
    with `logits`; IGNORE_INDEX positions count zero)."""
    import torch

    mask = labels != IGNORE_INDEX
    safe = labels.masked_fill(~mask, 0)
    logps = torch.log_softmax(logits.float(), dim=-1)
    picked = torch.gather(logps, 2, safe.unsqueeze(-1)).squeeze(-1)
    return (picked * mask).sum(-1)


def pairwise_loss(chosen_scores, rejected_scores):
    """Bradley-Terry: -log sigmoid(r_chosen - r_rejected), averaged over pairs."""
    import torch.nn.functional as F

    return -F.logsigmoid(chosen_scores.float() - rejected_scores.float()).mean()


def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta: float):
    """DPO's sigmoid loss, averaged over pairs, and the implicit rewards
    beta * (log pi - log pi_ref) of the chosen and rejected replies (TRL's rewards/chosen,
    rewards/rejected)."""
    import torch.nn.functional as F

    chosen_rewards = beta * (policy_chosen - ref_chosen)
    rejected_rewards = beta * (policy_rejected - ref_rejected)
    loss = -F.logsigmoid(chosen_rewards - rejected_rewards).mean()
    return loss, chosen_rewards.detach(), rejected_rewards.detach()
