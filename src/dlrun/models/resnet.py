"""A small ResNet (He et al., 2015) of basic blocks, with a stem made for small images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from dlrun.models.layers import NormKind, describe_activation, make_activation, norm_2d, require_image_shape
from dlrun.models.pooling import PoolKind, make_pool


def _conv_norm(in_channels: int, out_channels: int, kernel: int, stride: int, norm: NormKind | None) -> list[nn.Module]:
    # A conv followed by a norm needs no bias: the norm's shift replaces it.
    conv = nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=norm is None)
    return [conv] if norm is None else [conv, norm_2d(norm, out_channels)]


class BasicBlock(nn.Module):
    """activation(residual(x) + shortcut(x)); residual: 3x3 conv, norm, activation, 3x3 conv, norm.

    The shortcut is the identity when the block keeps the shape, and a 1x1 conv (with norm, and the
    block's stride) when it changes the channels or the size: the "projection" shortcut (option B
    of the paper).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        activation: str | Mapping[str, Any],
        norm: NormKind | None,
    ) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            *_conv_norm(in_channels, out_channels, 3, stride, norm),
            make_activation(activation, features=out_channels),
            *_conv_norm(out_channels, out_channels, 3, 1, norm),
        )
        self.shortcut = (
            nn.Sequential(*_conv_norm(in_channels, out_channels, 1, stride, norm))
            if stride != 1 or in_channels != out_channels
            else None
        )
        self.activation = make_activation(activation, features=out_channels)

    def forward(self, inputs: Tensor) -> Tensor:
        shortcut = inputs if self.shortcut is None else self.shortcut(inputs)
        return self.activation(self.residual(inputs) + shortcut)


class ResNet(nn.Module):
    """stem (3x3 conv -> norm -> activation) -> stages of BasicBlocks -> global pool -> dense.

    The ImageNet stem (7x7 stride-2 conv and a max pool) would shrink a 28x28 image to 7x7 before
    the first block, so the stem is one 3x3 conv that keeps the size, as in the paper's CIFAR
    networks. Each stage after the first halves the size in its first block (a stride-2 conv
    rounds up: 8 -> 4 -> 2, 28 -> 14 -> 7); the head pools each channel's whole map to one value
    (`pool`: avg as in the paper, or max, min).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        blocks_per_stage: Sequence[int] = (2, 2, 2),
        channels: Sequence[int] = (16, 32, 64),
        activation: str | Mapping[str, Any] = "relu",
        norm: NormKind | None = "batch",
        pool: PoolKind = "avg",
    ) -> None:
        super().__init__()
        # What an initializer needs to pick its gain (see dlrun.training.initializers).
        self.nonlinearity, self.nonlinearity_param = describe_activation(activation)
        require_image_shape(input_shape, "resnet")
        if len(blocks_per_stage) != len(channels) or not channels:
            raise ValueError(
                f"resnet needs one channel count per stage: blocks_per_stage {list(blocks_per_stage)} has "
                f"{len(blocks_per_stage)} entries, channels {list(channels)} has {len(channels)}"
            )
        if min(blocks_per_stage) < 1:
            raise ValueError(
                f"every resnet stage needs at least one block; got blocks_per_stage {list(blocks_per_stage)}"
            )
        height, width = input_shape[1:]
        halvings = len(channels) - 1
        # Halving a 1x1 map again would leave the later stages nothing to look at but padding.
        if min(height, width) < 2**halvings:
            fitting = min(height, width).bit_length()
            raise ValueError(
                f"resnet with {len(channels)} stages halves the image {halvings} times and needs images "
                f"of at least {2**halvings}x{2**halvings}, but this data's images are {height}x{width}; "
                f"use at most {fitting} stages."
            )

        self.stem = nn.Sequential(
            *_conv_norm(input_shape[0], channels[0], 3, 1, norm),
            make_activation(activation, features=channels[0]),
        )
        stages: list[nn.Module] = []
        in_channels = channels[0]
        for stage, (count, out_channels) in enumerate(zip(blocks_per_stage, channels)):
            for block in range(count):
                stride = 2 if stage > 0 and block == 0 else 1
                stages.append(BasicBlock(in_channels, out_channels, stride, activation, norm))
                in_channels = out_channels
                if stride == 2:
                    height, width = (height + 1) // 2, (width + 1) // 2
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(make_pool(pool, (height, width)), nn.Flatten(), nn.Linear(in_channels, num_outputs))

    def forward(self, inputs: Tensor) -> Tensor:
        return self.head(self.stages(self.stem(inputs)))
