"""The running state of torchmetrics metrics, in and out of a checkpoint.

torchmetrics keeps a metric's state (sums, counts) out of `state_dict` unless made persistent, and
making it so would put it into every exported set of weights; these carry it beside them instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor
from torchmetrics import Metric

TRAIN_METRIC_STATES = "dlrun_train_metric_states"


def metric_states(metrics: Mapping[str, Metric]) -> dict[str, dict[str, Tensor | list[Tensor]]]:
    return {name: {key: _copy(value) for key, value in metric.metric_state.items()} for name, metric in metrics.items()}


def restore_metric_states(
    metrics: Mapping[str, Metric], states: Mapping[str, Mapping[str, Tensor | list[Tensor]]]
) -> None:
    """Put saved states back (what torchmetrics' own state-dict loading does, state by state)."""
    for name, state in states.items():
        metric = metrics.get(name)
        if metric is None:
            continue
        for key, value in state.items():
            setattr(metric, key, _copy(value))


def _copy(value: Tensor | list[Tensor]) -> Tensor | list[Tensor]:
    return [v.detach().clone() for v in value] if isinstance(value, list) else value.detach().clone()
