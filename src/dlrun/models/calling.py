"""Calling a model with what a batch holds: the one place that asks whether its forward takes the
sequence lengths (models that read padded sequences do; the task, export and predict all call here)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping

from torch import Tensor, nn


def takes_lengths(model: nn.Module) -> bool:
    return "lengths" in inspect.signature(model.forward).parameters


def call_model(model: nn.Module, batch: Mapping[str, Tensor | None], with_lengths: bool | None = None) -> Tensor:
    """The model's outputs for `batch["inputs"]`, with `lengths=batch.get("lengths")` when its forward
    takes them. `with_lengths` is `takes_lengths(model)` computed once by a caller that calls often."""
    if takes_lengths(model) if with_lengths is None else with_lengths:
        return model(batch["inputs"], lengths=batch.get("lengths"))
    return model(batch["inputs"])
