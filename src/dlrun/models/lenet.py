"""LeNet-5 (LeCun et al., 1998), sized for 28x28 and 8x8 images."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from torch import Tensor, nn

from dlrun.models.layers import NormKind, describe_activation, make_activation, norm_2d, require_image_shape
from dlrun.models.pooling import PoolKind, make_pool

POOL_SIZE = 2


class LeNet5(nn.Module):
    """conv 6@5x5 -> pool -> conv 16@5x5 -> pool -> dense 120 -> 84 -> outputs.

    The original read 32x32 images: 32 -> conv 28 -> pool 14 -> conv 10 -> pool 5. Padding the
    first conv by 2 gives a 28x28 image exactly that path (28 -> 28 -> 14 -> 10 -> 5), so the dense
    part sees 16x5x5 features as in the paper. The second conv stays unpadded, as in the paper,
    wherever its input is large enough for something to survive the second pool; on a smaller
    input (the 8x8 digits: 8 -> 8 -> 4) it is padded to keep its size instead (4 -> 4 -> 2).
    That choice is made per dimension, so any image of at least 4x4 works.

    The defaults are the paper's tanh and average pooling ("subsampling").
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        channels: Sequence[int] = (6, 16),
        kernel_size: int = 5,
        head_sizes: Sequence[int] = (120, 84),
        activation: str | Mapping[str, Any] = "tanh",
        pool: PoolKind = "avg",
        norm: NormKind | None = None,
    ) -> None:
        super().__init__()
        # What an initializer needs to pick its gain (see dlrun.training.initializers).
        self.nonlinearity, self.nonlinearity_param = describe_activation(activation)
        require_image_shape(input_shape, "lenet5")
        if len(channels) != 2:
            raise ValueError(
                f"lenet5 has two convs, so channels needs two numbers (e.g. [6, 16]), got {list(channels)}"
            )
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(
                f"lenet5 needs an odd kernel_size (5 in the paper) so padding keeps sizes; got {kernel_size}"
            )
        first_padding = kernel_size // 2
        # After the size-keeping first conv and the first pool, each side is size // 2.
        pooled = [size // POOL_SIZE for size in input_shape[1:]]
        if min(pooled) < POOL_SIZE:
            raise ValueError(
                f"lenet5 pools twice by 2, so it needs images of at least 4x4; this data's images are "
                f"{input_shape[1]}x{input_shape[2]}; use model=mlp or model=cnn pool=null instead."
            )
        second_padding = tuple(0 if size - kernel_size + 1 >= POOL_SIZE else kernel_size // 2 for size in pooled)
        final = [(size + 2 * pad - kernel_size + 1) // POOL_SIZE for size, pad in zip(pooled, second_padding)]

        layers: list[nn.Module] = []
        in_channels = input_shape[0]
        # second_padding has one entry per image side: (height, width).
        paddings: tuple[int | tuple[int, int], ...] = (first_padding, cast(tuple[int, int], second_padding))
        for out_channels, padding in zip(channels, paddings):
            layers.append(nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding))
            if norm is not None:
                layers.append(norm_2d(norm, out_channels))
            layers += [make_activation(activation, features=out_channels), make_pool(pool, POOL_SIZE)]
            in_channels = out_channels
        self.features = nn.Sequential(*layers)

        head: list[nn.Module] = [nn.Flatten()]
        width = channels[-1] * final[0] * final[1]
        for size in head_sizes:
            head += [nn.Linear(width, size), make_activation(activation, features=size)]
            width = size
        head.append(nn.Linear(width, num_outputs))
        self.head = nn.Sequential(*head)

    def forward(self, inputs: Tensor) -> Tensor:
        return self.head(self.features(inputs))
