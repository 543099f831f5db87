"""Multi-layer perceptron: the baseline every other family is compared against."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from dlrun.models.layers import DropoutKind, NormKind, describe_activation, dropout_class, make_activation, norm_1d


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
        activation: str | Mapping[str, Any] = "relu",
        dropout: float = 0.0,
        dropout_kind: DropoutKind = "standard",
        norm: NormKind | None = None,
    ) -> None:
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        dropout_layer = dropout_class(dropout_kind)
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for size in hidden_sizes:
            layers.append(nn.Linear(width, size))
            if norm is not None:  # no nn.Identity in its place: every module call costs time
                layers.append(norm_1d(norm, size))
            layers.append(make_activation(activation, features=size))
            if dropout > 0:
                layers.append(dropout_layer(dropout))
            width = size
        layers.append(nn.Linear(width, num_outputs))
        super().__init__(*layers)
        # What an initializer needs to pick its gain (see dlrun.training.initializers).
        self.nonlinearity, self.nonlinearity_param = describe_activation(activation)
