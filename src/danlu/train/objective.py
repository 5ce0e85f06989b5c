"""What a training step minimises: an objective turns a batch into a loss (and metrics to log
beside it, e.g. a reward model's accuracy) and says how many tokens the batch trained on.
Pretraining and SFT use token cross-entropy; the reward model and DPO bring their own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from danlu.train.losses import IGNORE_INDEX, loss_function


class Objective(Protocol):
    def loss(self, model, batch) -> tuple[Any, dict[str, Any]]:
        """(scalar loss tensor, {metric: scalar tensor}) of one micro-batch on the device."""

    def tokens(self, batch) -> int:
        """Tokens the batch trains on (throughput)."""

    def weight(self, batch) -> int:
        """The batch's weight in a validation average (tokens, or pairs)."""


class TokenObjective:
    """Next-token cross-entropy over (x, y) or packed (x, y, position_ids) batches."""

    def __init__(self, loss_of: Callable | None = None):
        self.loss_of = loss_of

    @classmethod
    def for_model(cls, model, compile_model: bool = False) -> "TokenObjective":
        return cls(loss_function(model, compile_model))

    def loss(self, model, batch):
        loss_of = self.loss_of or loss_function(model, False)
        return loss_of(*batch), {}

    def tokens(self, batch) -> int:
        return int((batch[1] != IGNORE_INDEX).sum())

    weight = tokens


def to_device(batch, device: str):
    """A batch (tensors in tuples, lists or dicts, other values as they are) on `device`."""
    if hasattr(batch, "to"):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch
