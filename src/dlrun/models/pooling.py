"""Pooling by name (`pool=max|avg|min`), shared by every convolutional family."""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from dlrun.choices import check_choice

_Size = int | tuple[int, int]


class MinPool2d(nn.Module):
    """The minimum over each window, computed as -maxpool(-x).

    Negating twice reuses max pooling's kernels and its gradient (which flows to the arg-min),
    and makes padding count as +inf, so a padded border never wins the minimum.
    """

    def __init__(self, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding

    def forward(self, inputs: Tensor) -> Tensor:
        return -F.max_pool2d(-inputs, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


PoolKind = Literal["max", "avg", "min"]
POOLS: dict[PoolKind, type[nn.Module]] = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d, "min": MinPool2d}


def make_pool(name: PoolKind, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0) -> nn.Module:
    """A pooling layer by name; a padded border is ignored by all three, as max pooling ignores it."""
    check_choice("pool", name, PoolKind)
    if name == "avg":
        # Zeros from padding would otherwise drag the border windows' averages towards 0.
        return nn.AvgPool2d(kernel_size, stride, padding, count_include_pad=False)
    return POOLS[name](kernel_size, stride, padding)
