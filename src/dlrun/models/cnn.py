"""Configurable convolutional network: conv blocks, then a dense head."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from dlrun.choices import check_choice
from dlrun.models.layers import (
    DropoutKind,
    NormKind,
    describe_activation,
    dropout_class,
    make_activation,
    norm_2d,
    require_image_shape,
)
from dlrun.models.pooling import PoolKind, make_pool


class CNN(nn.Module):
    """[Conv -> norm -> activation -> pool -> dropout] per channel count -> flatten -> dense head.

    `padding="same"` keeps the spatial size through a convolution (stride 1), so only pooling
    shrinks it; that keeps small inputs such as 8x8 digits usable with several blocks.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        channels: Sequence[int] = (32, 64),
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | str = "same",
        pool: PoolKind | None = "max",
        pool_size: int = 2,
        norm: NormKind | None = "batch",
        dropout: float = 0.0,
        head_sizes: Sequence[int] = (128,),
        head_dropout: float = 0.0,
        head_dropout_kind: DropoutKind = "standard",
        activation: str | Mapping[str, Any] = "relu",
    ) -> None:
        super().__init__()
        # What an initializer needs to pick its gain (see dlrun.training.initializers).
        self.nonlinearity, self.nonlinearity_param = describe_activation(activation)
        head_dropout_layer = dropout_class(head_dropout_kind)
        require_image_shape(input_shape, "a CNN")
        check_choice("pool", pool, PoolKind, null_means="no pooling")  # before any block is built
        if padding == "same" and stride != 1:
            raise ValueError("padding='same' needs stride 1; give an integer padding for strided convs")
        blocks: list[nn.Module] = []
        in_channels = input_shape[0]
        for out_channels in channels:
            blocks.append(nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding))
            if norm is not None:
                blocks.append(norm_2d(norm, out_channels))
            blocks.append(make_activation(activation, features=out_channels))
            if pool is not None:
                blocks.append(make_pool(pool, pool_size))
            if dropout > 0:
                blocks.append(nn.Dropout2d(dropout))
            in_channels = out_channels
        self.features = nn.Sequential(*blocks)
        flat = self._flat_size(input_shape)

        head: list[nn.Module] = [nn.Flatten()]
        for size in head_sizes:
            head += [nn.Linear(flat, size), make_activation(activation, features=size)]
            if head_dropout > 0:
                head.append(head_dropout_layer(head_dropout))
            flat = size
        head.append(nn.Linear(flat, num_outputs))
        self.head = nn.Sequential(*head)

    def _flat_size(self, input_shape: Sequence[int]) -> int:
        with torch.no_grad():
            try:
                out = self.features.eval()(torch.zeros(1, *input_shape))
            except RuntimeError as e:
                raise ValueError(
                    f"the conv blocks shrink a {tuple(input_shape)} input to nothing ({e}); use fewer "
                    "blocks, a smaller kernel, or pool=null"
                ) from None
        self.features.train()
        if out.numel() == 0:
            raise ValueError(
                f"the conv blocks shrink a {tuple(input_shape)} input to nothing; use fewer blocks or pool=null"
            )
        return out.numel()

    def forward(self, inputs: Tensor) -> Tensor:
        return self.head(self.features(inputs))
