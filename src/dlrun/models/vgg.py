"""VGG-style network (Simonyan and Zisserman, 2014): blocks of 3x3 convs, each block ending in a pool."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from dlrun.models.layers import NormKind, describe_activation, make_activation, norm_2d, require_image_shape
from dlrun.models.pooling import PoolKind, make_pool


class VGG(nn.Module):
    """Per block: [3x3 conv (same padding) -> norm -> activation] x n -> 2x2 pool; then a dense head.

    `blocks` says how many convs each block has (VGG-11 is [1, 1, 2, 2, 2]) and `channels` their
    width. Only the pools shrink the image, halving each side (rounding down), so `len(blocks)`
    pools need images of at least 2**len(blocks) pixels per side: 3 blocks fit the 8x8 digits,
    4 blocks fit 28x28.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        blocks: Sequence[int] = (1, 1, 2),
        channels: Sequence[int] = (32, 64, 128),
        head_sizes: Sequence[int] = (256, 256),
        dropout: float = 0.5,
        activation: str | Mapping[str, Any] = "relu",
        pool: PoolKind = "max",
        norm: NormKind | None = "batch",
    ) -> None:
        super().__init__()
        # What an initializer needs to pick its gain (see dlrun.training.initializers).
        self.nonlinearity, self.nonlinearity_param = describe_activation(activation)
        require_image_shape(input_shape, "vgg")
        if len(blocks) != len(channels) or not blocks:
            raise ValueError(
                f"vgg needs one channel count per block: blocks {list(blocks)} has {len(blocks)} "
                f"entries, channels {list(channels)} has {len(channels)}"
            )
        if min(blocks) < 1:
            raise ValueError(f"every vgg block needs at least one conv; got blocks {list(blocks)}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1) (VGG used 0.5), got {dropout}")
        height, width = input_shape[1:]
        smallest = 2 ** len(blocks)
        if min(height, width) < smallest:
            fitting = min(height, width).bit_length() - 1
            advice = f"use at most {fitting} blocks" if fitting > 0 else "use model=cnn pool=null"
            raise ValueError(
                f"vgg with {len(blocks)} blocks pools {len(blocks)} times and needs images of at least "
                f"{smallest}x{smallest}, but this data's images are {height}x{width}; {advice}."
            )

        layers: list[nn.Module] = []
        in_channels = input_shape[0]
        for convs, out_channels in zip(blocks, channels):
            for _ in range(convs):
                layers.append(nn.Conv2d(in_channels, out_channels, 3, padding=1))
                if norm is not None:
                    layers.append(norm_2d(norm, out_channels))
                layers.append(make_activation(activation, features=out_channels))
                in_channels = out_channels
            layers.append(make_pool(pool, 2))
        self.features = nn.Sequential(*layers)

        head: list[nn.Module] = [nn.Flatten()]
        flat = in_channels * (height // smallest) * (width // smallest)
        for size in head_sizes:
            head += [nn.Linear(flat, size), make_activation(activation, features=size)]
            if dropout > 0:
                head.append(nn.Dropout(dropout))
            flat = size
        head.append(nn.Linear(flat, num_outputs))
        self.head = nn.Sequential(*head)

    def forward(self, inputs: Tensor) -> Tensor:
        return self.head(self.features(inputs))
