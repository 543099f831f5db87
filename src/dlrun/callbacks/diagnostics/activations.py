"""Dead ReLU units and saturated sigmoid/tanh units of a network, on one forward pass.

A unit is one output element of an activation layer for one example: a feature of a dense layer, a
channel at one position of a convolution's map (so a channel can be dead in one corner only), a
feature at one step of a sequence.
- Dead: a ReLU (or ReLU6) unit whose output is exactly 0 on every example of the batch. No gradient
  reaches its weights through it, so it stays dead. The dead fraction is the share of such units.
- Saturated: a sigmoid output below 1 - t or above t, a tanh output with |y| > t (t is the
  saturation threshold, 0.99 by default): there the local gradient, y(1 - y) or 1 - y^2, is under 4%
  (sigmoid) or 2% (tanh) of its peak at t = 0.99. The saturated fraction is the share of (unit,
  example) pairs that are saturated, i.e. averaged over the examples.
Only activations that are modules are seen (dlrun's models build them so), not the gates inside an
LSTM or the tanh of an RNN cell. A module called more than once in a pass gets the mean of its calls.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor, nn

DEAD_KINDS: tuple[type[nn.Module], ...] = (nn.ReLU, nn.ReLU6)
SATURATING_KINDS: tuple[type[nn.Module], ...] = (nn.Sigmoid, nn.Tanh)


def dead_fraction(outputs: Tensor) -> Tensor:
    """The share of units (everything but the batch dimension) that are 0 on every example: for a
    ReLU's outputs, which are never negative, those whose largest output is 0."""
    return (outputs.reshape(len(outputs), -1).amax(dim=0) == 0).float().mean()


def saturated_fraction(layer: nn.Module, outputs: Tensor, threshold: float) -> Tensor:
    if isinstance(layer, nn.Tanh):
        return (outputs.abs() > threshold).float().mean()
    return ((outputs < 1 - threshold) | (outputs > threshold)).float().mean()


def activation_layers(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """The ReLU, sigmoid and tanh modules of `module`, with their module paths."""
    return [(name, layer) for name, layer in module.named_modules() if isinstance(layer, DEAD_KINDS + SATURATING_KINDS)]


def activation_fractions(
    layers: list[tuple[str, nn.Module]], run_forward: Callable[[], object], saturation_threshold: float
) -> dict[str, dict[str, float]]:
    """Calls `run_forward()` (a forward pass through `layers`, see activation_layers) with forward
    hooks on those layers, and returns {"dead_fraction": {layer: f}, "saturated_fraction": {layer: f}}.
    The hooks are removed again, whatever happens."""
    seen: dict[str, dict[str, list[Tensor]]] = {"dead_fraction": {}, "saturated_fraction": {}}

    def record(figure: str, name: str, measure: Callable[[Tensor], Tensor], layer, inputs, outputs) -> None:
        if isinstance(outputs, Tensor) and outputs.ndim >= 1 and len(outputs):
            seen[figure].setdefault(name, []).append(measure(outputs.detach()))

    handles = []
    for name, layer in layers:
        if isinstance(layer, DEAD_KINDS):
            handles.append(layer.register_forward_hook(partial(record, "dead_fraction", name, dead_fraction)))
        elif isinstance(layer, SATURATING_KINDS):
            measure = partial(saturated_fraction, layer, threshold=saturation_threshold)
            handles.append(layer.register_forward_hook(partial(record, "saturated_fraction", name, measure)))
    try:
        run_forward()
    finally:
        for handle in handles:
            handle.remove()
    names = [(figure, name) for figure, by_layer in seen.items() for name in by_layer]
    if not names:
        return {figure: {} for figure in seen}
    values = torch.stack([torch.stack(seen[figure][name]).mean() for figure, name in names]).tolist()
    found: dict[str, dict[str, float]] = {figure: {} for figure in seen}
    for (figure, name), value in zip(names, values):
        found[figure][name] = value
    return found
