"""Variable-length batches: each padded only to its own longest sequence, lengths bucketed.

Sequence splits are stored right-padded to the longest sequence of the data set, with a `lengths`
tensor on the CPU (where `pack_padded_sequence` wants it). A batch is cut down to its own longest
sequence, and with length bucketing the examples of a batch have similar lengths, so little of a
batch is padding.
"""

from __future__ import annotations

import torch
from torch import Tensor

LENGTHS = "lengths"


def trim_to_longest(batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """Drop the padding steps that no example of this batch needs (dim 1 of every sequence tensor).

    Sequence tensors are those whose second dimension is the padded length; targets of other shapes
    (one label per example, a forecast horizon) are left alone.
    """
    lengths = batch.get(LENGTHS)
    if lengths is None or len(lengths) == 0:
        return batch
    padded = batch["inputs"].shape[1]
    longest = int(lengths.max())
    if longest == padded:
        return batch
    return {
        key: tensor[:, :longest] if key != LENGTHS and tensor.dim() > 1 and tensor.shape[1] == padded else tensor
        for key, tensor in batch.items()
    }


def bucketed_batches(lengths: Tensor, batch_size: int, pool_batches: int) -> list[Tensor]:
    """Shuffled batches of indices whose lengths are similar; every example exactly once.

    The examples are shuffled, cut into pools of `pool_batches` batches, each pool is sorted by
    length and cut into batches, and the batches are shuffled (draws from the global RNG, which
    the run's seed seeds). Sorting within pools rather than over the whole set keeps the batches
    of an epoch varied from one epoch to the next.
    """
    order = torch.randperm(len(lengths))
    pool = batch_size * max(1, pool_batches)
    batches: list[Tensor] = []
    for start in range(0, len(order), pool):
        members = order[start : start + pool]
        members = members[torch.argsort(lengths[members], stable=True)]
        batches.extend(members.split(batch_size))
    return [batches[i] for i in torch.randperm(len(batches)).tolist()]


def padding_fraction(lengths: Tensor, batches: list[Tensor]) -> float:
    """The share of the served steps that are padding when each batch is padded to its longest."""
    served = sum(int(lengths[b].max()) * len(b) for b in batches)
    real = int(lengths.sum())
    return 1.0 - real / served if served else 0.0
