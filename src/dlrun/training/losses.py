"""Losses, as modules called with a task's outputs and targets.

Each declares the task kinds it `supports`, so a config that pairs a loss with the wrong kind of
data fails before training with a clear message. Classification targets arrive as class indices;
a binary task's outputs are one logit per example.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class CrossEntropy(nn.CrossEntropyLoss):
    """Softmax cross-entropy over one logit per class."""

    supports = ("multiclass",)


class BinaryCrossEntropy(nn.Module):
    """Sigmoid cross-entropy on one logit per example (numerically stable: from logits)."""

    supports = ("binary",)

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype))


class MeanSquaredError(nn.MSELoss):
    supports = ("regression",)


DEFAULT_LOSSES = {"multiclass": CrossEntropy, "binary": BinaryCrossEntropy, "regression": MeanSquaredError}


def check_supports(loss: nn.Module, task: str) -> None:
    supported = getattr(loss, "supports", None)  # a user's own loss may not say: trust it
    if supported is not None and task not in supported:
        raise ValueError(
            f"the loss {type(loss).__name__} is for {' or '.join(supported)} tasks, but this data is {task}"
        )
