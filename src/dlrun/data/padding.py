"""Variable-length batches: each padded only to its own longest sequence, lengths bucketed.

Sequence splits are stored right-padded to the longest sequence of the data set, with lengths on
the CPU (where `pack_padded_sequence` wants them): `lengths` for `inputs`, and for Seq2Seq
`source_lengths` for `source` and `target_lengths` for `target_in` / `target_out`. A batch is cut down
to its own longest sequences, and with length bucketing the examples of a batch have similar
(source) lengths, so little of a batch is padding.
"""

from __future__ import annotations

import torch
from torch import Tensor

LENGTHS = "lengths"
# Each lengths key and the padded tensors it measures (dim 1).
PADDED_BY: dict[str, tuple[str, ...]] = {
    LENGTHS: ("inputs",),
    "source_lengths": ("source",),
    "target_lengths": ("target_in", "target_out"),
}
LENGTH_KEYS = frozenset(PADDED_BY)


def sequence_lengths(tensors: dict[str, Tensor]) -> Tensor | None:
    """The lengths that batches are bucketed by: `lengths`, else the Seq2Seq source lengths."""
    return next((tensors[key] for key in (LENGTHS, "source_lengths") if key in tensors), None)


def trim_to_longest(batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """Drop the padding steps that no example of this batch needs, each padded tensor by its own lengths.

    Tensors no lengths key measures (one label per example, a forecast horizon) are left alone.
    """
    trimmed = batch
    for lengths_key, keys in PADDED_BY.items():
        lengths = batch.get(lengths_key)
        if lengths is None or len(lengths) == 0:
            continue
        longest = int(lengths.max())
        for key in keys:
            if key in batch and batch[key].shape[1] > longest:
                trimmed = dict(trimmed) if trimmed is batch else trimmed
                trimmed[key] = batch[key][:, :longest]
    return trimmed


def bucketed_batches(
    lengths: Tensor, batch_size: int, pool_batches: int, generator: torch.Generator | None = None
) -> list[Tensor]:
    """Shuffled batches of indices whose lengths are similar; every example exactly once.

    The examples are shuffled, cut into pools of `pool_batches` batches, each pool is sorted by
    length and cut into batches, and the batches are shuffled (draws from the global RNG, which
    the run's seed seeds). Sorting within pools rather than over the whole set keeps the batches
    of an epoch varied from one epoch to the next.
    """
    order = torch.randperm(len(lengths), generator=generator)
    pool = batch_size * max(1, pool_batches)
    batches: list[Tensor] = []
    for start in range(0, len(order), pool):
        members = order[start : start + pool]
        members = members[torch.argsort(lengths[members], stable=True)]
        batches.extend(members.split(batch_size))
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def padding_fraction(lengths: Tensor, batches: list[Tensor]) -> float:
    """The share of the served steps that are padding when each batch is padded to its longest."""
    served = sum(int(lengths[b].max()) * len(b) for b in batches)
    real = int(lengths.sum())
    return 1.0 - real / served if served else 0.0
