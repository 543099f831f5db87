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

from dlrun.checks import check_number
from dlrun.data.padding import LENGTH_KEYS, bucketed_batches, sequence_lengths, trim_to_longest
from dlrun.errors import ConfigError

Batch = dict[str, Tensor]


class TensorBatches:
    """An iterable of batches (dicts of tensors sharing their first dimension), re-shuffled per epoch.

    With `group_size=k` it yields lists of up to k consecutive batches instead of single batches:
    the training task runs one optimizer step per batch of a group, so the framework's per-batch
    bookkeeping is paid once per k steps (Keras calls this steps_per_execution).

    Shuffling draws from a generator of its own, seeded by the run's seed (torch.initial_seed()), so
    the order of the examples depends on the seed alone: not on how many random numbers the model's
    initialization or dropout used, and not on the number of processes.

    With `shard=(rank, world_size)` (distributed training) every process walks the same batches (rank
    0's seed is sent to the others) and takes examples rank, rank + world_size, ... of each: the
    global batch is the one a single process would train on. A last batch with fewer examples than
    processes is dropped, since every process must step.

    A run resumed from a checkpoint taken inside an epoch continues that epoch: `resume_epoch` puts
    the generator back where the interrupted epoch began and skips the batches it had trained on.

    Sequences come with lengths (kept on the CPU, as packing wants them; see padding.py): each batch
    is then cut to its own longest sequences, and with `bucket_pool_batches=P` a shuffled epoch groups
    examples of similar length into batches (see padding.bucketed_batches).
    """

    def __init__(
        self,
        tensors: Batch,
        batch_size: int | None,
        shuffle: bool = False,
        drop_last: bool = False,
        group_size: int | None = None,
        bucket_pool_batches: int | None = None,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        sizes = {len(t) for t in tensors.values()}
        if len(sizes) != 1:
            raise ValueError(f"all tensors must have the same length, got {sorted(sizes)}")
        self.tensors = tensors
        self.num_samples = sizes.pop()
        # None means the whole set in one batch (full-batch gradient descent).
        self.batch_size = self.num_samples if batch_size is None else batch_size
        for name, value, null_means in (
            ("batch_size", self.batch_size, "for one full batch"),
            ("steps_per_execution", group_size, "for single steps"),
            ("bucket_pool_batches", bucket_pool_batches, "for no bucketing"),
        ):
            check_number(name, value, at_least=1, whole=True, null_means=null_means, error=ValueError)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.group_size = group_size
        self.lengths = sequence_lengths(tensors)
        self.bucket_pool_batches = bucket_pool_batches
        self.rank, self.world_size = shard
        self.generator = torch.Generator()
        # The generator's state before this epoch's shuffle, and batches of the next epoch to skip.
        self.epoch_start_state: Tensor | None = None
        self._skip = 0
        if shuffle:
            self.generator.manual_seed(self._same_on_every_rank(torch.initial_seed()))
        if self.world_size > 1 and group_size not in (None, 1):
            raise ConfigError(
                f"Distributed training takes one optimizer step per batch, and steps_per_execution is {group_size}; "
                "set data.steps_per_execution=1 (trainer=ddp does)."
            )

    @property
    def num_batches(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def __len__(self) -> int:
        if self.group_size is None:
            return self.num_batches
        return math.ceil(self.num_batches / self.group_size)

    def batches_in(self, lightning_batches: int) -> int:
        """Mini-batches (one optimizer step each, without accumulation) served in the first
        `lightning_batches` items of an epoch: groups of `group_size`, the last one maybe shorter."""
        return min(self.num_batches, lightning_batches * (self.group_size or 1))

    def resume_epoch(self, start_state: Tensor, batches_done: int) -> None:
        """The next epoch is the one that began at generator state `start_state`, from its batch
        `batches_done` (a Lightning batch: a group with steps_per_execution) on."""
        self.generator.set_state(start_state)
        self._skip = batches_done

    def __iter__(self) -> Iterator[Batch | list[Batch]]:
        self.epoch_start_state = self.generator.get_state()
        skip, self._skip = self._skip, 0
        for number, batch in enumerate(self._epoch()):
            if number >= skip:
                yield batch

    def _epoch(self) -> Iterator[Batch | list[Batch]]:
        if self.lengths is not None:
            yield from self._sequence_batches()
            return
        used = min(self.num_batches * self.batch_size, self.num_samples)
        span = self.batch_size * (self.group_size or 1)
        order = None
        if self.shuffle:
            device = next(iter(self.tensors.values())).device
            order = torch.randperm(self.num_samples, generator=self.generator).to(device)
        for start in range(0, used, span):
            stop = min(start + span, used)
            if order is None:
                chunk = {key: tensor[start:stop] for key, tensor in self.tensors.items()}
            else:
                index = self._my_share(order[start:stop])  # one gather per group; the split below makes views
                if index is None:
                    continue
                chunk = {key: tensor[index] for key, tensor in self.tensors.items()}
            if self.group_size is None:
                yield chunk
            else:
                pieces = {key: tensor.split(self.batch_size) for key, tensor in chunk.items()}
                yield [dict(zip(pieces, parts)) for parts in zip(*pieces.values())]

    def batch_indices(self) -> list[Tensor]:
        """One epoch's batches of example indices, in order (CPU int64)."""
        if self.shuffle and self.bucket_pool_batches:
            assert self.lengths is not None  # only sequence data (see _epoch) is cut into batches here
            batches = bucketed_batches(self.lengths, self.batch_size, self.bucket_pool_batches, self.generator)
        else:
            order = (
                torch.randperm(self.num_samples, generator=self.generator)
                if self.shuffle
                else torch.arange(self.num_samples)
            )
            batches = list(order.split(self.batch_size))
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size]
        return batches

    def _sequence_batches(self) -> Iterator[Batch | list[Batch]]:
        device = next(t for k, t in self.tensors.items() if k not in LENGTH_KEYS).device
        indices = self.batch_indices()
        if self.shuffle and self.world_size > 1:
            indices = [share for share in map(self._my_share, indices) if share is not None]
        if self.group_size is None:
            for index in indices:
                yield self._gather(index, device)
            return
        for start in range(0, len(indices), self.group_size):
            yield [self._gather(index, device) for index in indices[start : start + self.group_size]]

    def _same_on_every_rank(self, value):
        """Rank 0's `value` on every rank (an unseeded run's processes each have a seed of their own)."""
        import torch.distributed as dist

        if self.world_size == 1 or not dist.is_initialized():  # no other process to agree with
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def _my_share(self, index: Tensor) -> Tensor | None:
        """This rank's examples of one batch (all of them without sharding); None when too few to share."""
        if self.world_size == 1 or not self.shuffle:
            return index
        return index[self.rank :: self.world_size] if len(index) >= self.world_size else None

    def _gather(self, index: Tensor, device: torch.device) -> Batch:
        on_device = index.to(device)
        batch = {key: tensor[index if key in LENGTH_KEYS else on_device] for key, tensor in self.tensors.items()}
        return trim_to_longest(batch)
