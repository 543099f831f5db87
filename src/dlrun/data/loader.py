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
    """An iterable of batches (dicts of tensors sharing their first dimension), re-shuffled per epoch.

    With `group_size=k` it yields lists of up to k consecutive batches instead of single batches:
    the training task runs one optimizer step per batch of a group, so the framework's per-batch
    bookkeeping is paid once per k steps (Keras calls this steps_per_execution).
    """

    def __init__(
        self,
        tensors: Batch,
        batch_size: int | None,
        shuffle: bool = False,
        drop_last: bool = False,
        group_size: int | None = None,
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
        if group_size is not None and group_size < 1:
            raise ValueError(f"steps_per_execution must be at least 1, got {group_size}")
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.group_size = group_size

    @property
    def num_batches(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def __len__(self) -> int:
        if self.group_size is None:
            return self.num_batches
        return math.ceil(self.num_batches / self.group_size)

    def __iter__(self) -> Iterator[Batch] | Iterator[list[Batch]]:
        used = min(self.num_batches * self.batch_size, self.num_samples)
        span = self.batch_size * (self.group_size or 1)
        order = None
        if self.shuffle:
            device = next(iter(self.tensors.values())).device
            order = torch.randperm(self.num_samples).to(device)  # global RNG: seeded by the run's seed
        for start in range(0, used, span):
            stop = min(start + span, used)
            if order is None:
                chunk = {key: tensor[start:stop] for key, tensor in self.tensors.items()}
            else:
                index = order[start:stop]  # one gather per group; the split below makes views
                chunk = {key: tensor[index] for key, tensor in self.tensors.items()}
            if self.group_size is None:
                yield chunk
            else:
                pieces = {key: tensor.split(self.batch_size) for key, tensor in chunk.items()}
                yield [dict(zip(pieces, parts)) for parts in zip(*pieces.values())]
