"""AlexNet (Krizhevsky et al., 2012), scaled down for 28x28 and 8x8 images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from dlrun.models.layers import NormKind, describe_activation, make_activation, norm_2d, require_image_shape
from dlrun.models.pooling import PoolKind, make_pool

# The paper's widths: five convs, then two dense layers; `width` scales all of them.
CONV_CHANNELS = (96, 256, 384, 384, 256)
CONV_KERNELS = (5, 5, 3, 3, 3)
HEAD_SIZES = (4096, 4096)
# A pool follows these convs (the 1st, 2nd and 5th), as in the paper.
POOLED = (0, 1, 4)


class AlexNet(nn.Module):
    """5 convs (3 of them followed by a pool) -> [dropout -> dense] x 2 -> outputs.

    What changed for small images: the paper's 11x11 stride-4 first conv would leave a 28x28 image
    7x7 before any pooling, so the first conv is 5x5 with stride 1, and every conv pads to keep
    its size. The paper's overlapping 3x3 stride-2 pools are kept, padded by 1: each halves a side
    rounding up (28 -> 14 -> 7 -> 4, 8 -> 4 -> 2 -> 1), so no input is ever pooled to nothing.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        width: float = 0.25,
        dropout: float = 0.5,
        activation: str | Mapping[str, Any] = "relu",
        pool: PoolKind = "max",
        norm: NormKind | None = None,
    ) -> None:
        super().__init__()
        # What an initializer needs to pick its gain (see dlrun.training.initializers).
        self.nonlinearity, self.nonlinearity_param = describe_activation(activation)
        require_image_shape(input_shape, "alexnet")
        if width <= 0:
            raise ValueError(f"width scales the paper's widths and must be > 0 (e.g. 0.25); got {width}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1) (the paper used 0.5), got {dropout}")

        layers: list[nn.Module] = []
        in_channels = input_shape[0]
        for i, (channels, kernel) in enumerate(zip(CONV_CHANNELS, CONV_KERNELS)):
            out_channels = max(1, round(channels * width))
            layers.append(nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2))
            if norm is not None:
                layers.append(norm_2d(norm, out_channels))
            layers.append(make_activation(activation, features=out_channels))
            if i in POOLED:
                layers.append(make_pool(pool, 3, stride=2, padding=1))
            in_channels = out_channels
        self.features = nn.Sequential(*layers)

        head: list[nn.Module] = [nn.Flatten()]
        flat = self._flat_size(input_shape)
        for size in HEAD_SIZES:
            size = max(1, round(size * width))
            if dropout > 0:
                head.append(nn.Dropout(dropout))
            head += [nn.Linear(flat, size), make_activation(activation, features=size)]
            flat = size
        head.append(nn.Linear(flat, num_outputs))
        self.head = nn.Sequential(*head)

    def _flat_size(self, input_shape: Sequence[int]) -> int:
        # In eval mode, so that a batch norm's running statistics do not see the dummy image.
        with torch.no_grad():
            size = self.features.eval()(torch.zeros(1, *input_shape)).numel()
        self.features.train()
        return size

    def forward(self, inputs: Tensor) -> Tensor:
        return self.head(self.features(inputs))
