"""Serve in-memory tensors in mini-batches by slicing, with no per-sample Dataset or collate.

For the small data sets this tool is mostly used with, a DataLoader's per-sample indexing and
collation cost more than the training step itself; one shuffled index tensor per epoch and one
gather per batch cost almost nothing, and the tensors can live on the training device.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor

Batch = dict[str, Tensor]


class TensorBatches:
    """An iterable of batches (dicts of tensors sharing their first dimension), re-shuffled per epoch."""

    def __init__(
        self,
        tensors: Batch,
        batch_size: int | None,
        shuffle: bool = False,
        drop_last: bool = False,
    ) -> None:
        sizes = {len(t) for t in tensors.values()}
        if len(sizes) != 1:
            raise ValueError(f"all tensors must have the same length, got {sorted(sizes)}")
        self.tensors = tensors
        self.num_samples = sizes.pop()
        # None means the whole set in one batch (full-batch gradient descent).
        self.batch_size = self.num_samples if batch_size is None else batch_size
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1 (or null for one full batch), got {batch_size}")
        self.shuffle = shuffle
        self.drop_last = drop_last

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        if self.shuffle:
            device = next(iter(self.tensors.values())).device
            order = torch.randperm(self.num_samples).to(device)  # global RNG: seeded by the run's seed
            for start in range(0, len(self) * self.batch_size, self.batch_size):
                index = order[start : start + self.batch_size]
                yield {key: tensor[index] for key, tensor in self.tensors.items()}
        else:
            for start in range(0, len(self) * self.batch_size, self.batch_size):
                yield {key: tensor[start : start + self.batch_size] for key, tensor in self.tensors.items()}
