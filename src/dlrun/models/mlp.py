"""Multi-layer perceptron: the baseline every other family is compared against."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from dlrun.models.layers import activation as make_activation
from dlrun.models.layers import norm_1d


class MLP(nn.Sequential):
    """Flatten -> [Linear -> norm -> activation -> dropout] per hidden size -> Linear.

    A Sequential itself rather than a module holding one: for small layers each extra module call
    is a measurable share of the step.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        hidden_sizes: Sequence[int] = (256, 256),
        activation: str = "relu",
        dropout: float = 0.0,
        norm: str | None = None,
    ) -> None:
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for size in hidden_sizes:
            layers.append(nn.Linear(width, size))
            if norm is not None:  # no Identity placeholder: every module call costs time
                layers.append(norm_1d(norm, size))
            layers.append(make_activation(activation))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, num_outputs))
        super().__init__(*layers)
