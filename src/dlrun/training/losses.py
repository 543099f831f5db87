"""Losses, as modules called with a task's outputs and targets.

Each declares the task kinds it `supports`, so a config that pairs a loss with the wrong kind of
data fails before training with a clear message. Classification targets arrive as class indices;
a binary task's outputs are one logit per example. Regression targets arrive standardized, so a
`delta` is in standard deviations of the target.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlrun.checks import check_number

DELTA_MEANING = "where the loss turns linear"


class CrossEntropy(nn.CrossEntropyLoss):
    """Softmax cross-entropy over one logit per class, with optional class weights and label smoothing.

    With weights the mean is weighted: sum_i w[y_i] * loss_i / sum_i w[y_i], as in torch.
    """

    supports = ("multiclass",)

    def __init__(self, weight: Sequence[float] | Tensor | None = None, label_smoothing: float = 0.0) -> None:
        check_number("label_smoothing", label_smoothing, at_least=0, at_most=1, meaning="0 = none", error=ValueError)
        super().__init__(weight=_class_weights(weight), label_smoothing=label_smoothing)

    def check_num_classes(self, num_classes: int) -> None:
        if self.weight is not None and len(self.weight) != num_classes:
            raise ValueError(
                f"cross_entropy weight has {len(self.weight)} entries but the data has {num_classes} classes; "
                f"give one weight per class (or null for equal weights)"
            )


def _class_weights(weight: Sequence[float] | Tensor | None) -> Tensor | None:
    if weight is None:
        return None
    try:  # a config gives a ListConfig, which torch does not take as it is
        tensor = torch.as_tensor(weight if isinstance(weight, Tensor) else list(weight), dtype=torch.float32)
    except (TypeError, ValueError):
        tensor = None
    if tensor is None or tensor.dim() != 1 or (tensor < 0).any() or not (tensor > 0).any():
        raise ValueError(
            f"cross_entropy weight must be a list of non-negative numbers, one per class and not all 0 "
            f"(or null for equal weights), got {weight}"
        )
    return tensor


class TokenCrossEntropy(nn.CrossEntropyLoss):
    """Cross-entropy over the tokens of sequences (logits (N, V, T), targets (N, T)), averaged over
    the real tokens: positions holding `ignore_index` (the padding) count for nothing."""

    supports = ("seq2seq",)

    def __init__(self, ignore_index: int, label_smoothing: float = 0.0) -> None:
        check_number("label_smoothing", label_smoothing, at_least=0, at_most=1, meaning="0 = none", error=ValueError)
        super().__init__(ignore_index=ignore_index, label_smoothing=label_smoothing)


class BinaryCrossEntropy(nn.Module):
    """Sigmoid cross-entropy on one logit per example (numerically stable: from logits)."""

    supports = ("binary",)

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype))


class Hinge(nn.Module):
    """The SVM margin loss, binary or multiclass, chosen by the shape of the logits.

    Binary (logits (N,), targets 0/1): mean(max(0, margin - y * z)) with y = 2 * target - 1.
    Multiclass (logits (N, C)): mean over examples of sum_{c != y} max(0, margin - z_y + z_c) / C,
    torch's multi_margin_loss.
    """

    supports = ("binary", "multiclass")

    def __init__(self, margin: float = 1.0) -> None:
        super().__init__()
        check_number("hinge margin", margin, above=0, meaning="usually 1", error=ValueError)
        self.margin = margin

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        if logits.dim() == 1:  # torch has no hinge on one logit: its hinge_embedding_loss is another loss
            signs = 2 * targets.to(logits.dtype) - 1
            return F.relu(self.margin - signs * logits).mean()
        return F.multi_margin_loss(logits, targets, margin=self.margin)


class MeanSquaredError(nn.MSELoss):
    """mean(r^2), r = prediction - target."""

    supports = ("regression", "forecasting")


class MeanAbsoluteError(nn.L1Loss):
    """mean(|r|): the conditional median, little moved by outliers."""

    supports = ("regression", "forecasting")


class Huber(nn.HuberLoss):
    """r^2 / 2 for |r| <= delta, delta * (|r| - delta / 2) beyond: squared near 0, linear in the tails."""

    supports = ("regression", "forecasting")

    def __init__(self, delta: float = 1.0) -> None:
        check_number("huber delta", delta, above=0, meaning=DELTA_MEANING, error=ValueError)
        super().__init__(delta=delta)


class PseudoHuber(nn.Module):
    """mean(delta^2 * (sqrt(1 + (r / delta)^2) - 1)): Huber's shape, but smooth everywhere.

    About r^2 / 2 for |r| << delta and delta * |r| for |r| >> delta.
    """

    supports = ("regression", "forecasting")

    def __init__(self, delta: float = 1.0) -> None:
        super().__init__()
        check_number("pseudo_huber delta", delta, above=0, meaning=DELTA_MEANING, error=ValueError)
        self.delta = delta

    def forward(self, predictions: Tensor, targets: Tensor) -> Tensor:
        r = predictions - targets
        # The same value written without sqrt(...) - 1, which cancels to 0 in float32 for small r.
        return (r.square() / (1 + torch.sqrt(1 + (r / self.delta).square()))).mean()


DEFAULT_LOSSES = {
    "multiclass": CrossEntropy,
    "binary": BinaryCrossEntropy,
    "regression": MeanSquaredError,
    "forecasting": MeanSquaredError,
}


def check_supports(loss: nn.Module, task: str, num_classes: int | None = None) -> None:
    """Raise ValueError if `loss` cannot train this kind of data (or this many classes)."""
    supported = getattr(loss, "supports", None)  # a user's own loss may not say: trust it
    if supported is not None and task not in supported:
        raise ValueError(
            f"the loss {type(loss).__name__} is for {' or '.join(supported)} tasks, but this data is {task}"
        )
    check_num_classes = getattr(loss, "check_num_classes", None)
    if num_classes and check_num_classes is not None:
        check_num_classes(num_classes)
