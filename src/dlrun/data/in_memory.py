"""A LightningDataModule for data sets that fit in memory, served from the training device."""

from __future__ import annotations

import warnings
from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from dlrun.data.loader import Batch, TensorBatches
from dlrun.data.padding import LENGTH_KEYS
from dlrun.data.spec import DataSpec
from dlrun.data.splits import Scaling, fit_scaler, split_indices
from dlrun.training.mid_epoch import batches_done_in_epoch

SPLITS = ("train", "val", "test")


class InMemoryDataModule(pl.LightningDataModule):
    """Subclasses implement `load()`; this class caches the splits and serves them as TensorBatches."""

    def __init__(
        self,
        batch_size: int | None = 64,
        eval_batch_size: int | None = 1024,
        steps_per_execution: int = 32,
        bucket_pool_batches: int | None = None,
    ) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.steps_per_execution = steps_per_execution
        self.bucket_pool_batches = bucket_pool_batches
        self._splits: dict[str, Batch] | None = None
        self._spec: DataSpec | None = None
        self._on_device: dict[str, Batch] = {}
        # Random changes to training batches (image augmentation, say), set by subclasses that offer them.
        self.augmentation: Callable[[Batch], Batch] | None = None
        # The training loader (its shuffle generator), and its state restored from a checkpoint.
        self._train_batches: TensorBatches | None = None
        self._restored_loader_state: dict | None = None

    @abstractmethod
    def load(self) -> tuple[dict[str, Batch], DataSpec]:
        """Return {'train'|'val'|'test': {'inputs': ..., 'targets': ...}} and what they hold.

        Variable-length sequences add 'lengths' (int64, the real steps of each right-padded example).
        """

    def save_preprocessing(self, directory: Path) -> None:
        """Write what predicting on new data needs to repeat this module's preprocessing (a
        vocabulary, scaler statistics) into the run's directory."""

    def baselines(self) -> dict[str, dict[str, float]]:
        """Test metrics of simple reference predictors (e.g. naive forecasts), to compare with the model's."""
        return {}

    def setup(self, stage: str | None = None) -> None:
        if self._splits is None:
            self._splits, self._spec = self.load()

    @property
    def spec(self) -> DataSpec:
        self.setup()
        assert self._spec is not None
        return self._spec

    def split(self, name: str) -> Batch:
        self.setup()
        assert self._splits is not None
        return self._splits[name]

    @property
    def train_batches_per_epoch(self) -> int:
        """Mini-batches (optimizer steps, without accumulation) in one training epoch."""
        return TensorBatches(self.split("train"), self.batch_size).num_batches

    def train_dataloader(self) -> TensorBatches:
        trainer = self.trainer
        self._train_batches = TensorBatches(
            self._device_split("train"),
            self.batch_size,
            # overfit_batches trains on the same batches every epoch: Lightning turns shuffling off
            # for it only in loaders with a sampler, which TensorBatches has not.
            shuffle=not overfitting(trainer),
            group_size=None if counts_training_batches(trainer) else self.steps_per_execution,
            bucket_pool_batches=self.bucket_pool_batches,
            shard=self._shard(),
        )
        restored, self._restored_loader_state = self._restored_loader_state, None
        if restored and restored.get("batches_done"):
            self._train_batches.resume_epoch(restored["epoch_start_state"], restored["batches_done"])
        elif restored:
            self._train_batches.generator.set_state(restored["shuffle_state"])
        return self._train_batches

    def state_dict(self) -> dict:
        """Saved in every checkpoint: where the training shuffle is, so a resumed run sees the
        epochs in the order the run it continues would have; inside an epoch (a checkpoint every N
        steps), also where that epoch began and how many of its batches have trained."""
        batches = self._train_batches
        if batches is None:
            return {}
        state: dict[str, torch.Tensor | int] = {"shuffle_state": batches.generator.get_state()}
        done = batches_done_in_epoch(self.trainer)
        if done and batches.epoch_start_state is not None:
            state.update(epoch_start_state=batches.epoch_start_state, batches_done=done)
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        self._restored_loader_state = state_dict or None
        if state_dict.get("batches_done"):  # the loader goes on where the epoch stopped, see above
            warnings.filterwarnings(
                "ignore", message="You're resuming from a checkpoint that ended before the epoch ended"
            )

    def _shard(self) -> tuple[int, int]:
        """(rank, world size) of a distributed fit; each process trains on its share of every batch."""
        trainer = getattr(self, "trainer", None)
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def val_dataloader(self) -> TensorBatches:
        return TensorBatches(self._device_split("val"), self.eval_batch_size)

    def test_dataloader(self) -> TensorBatches:
        return TensorBatches(self._device_split("test"), self.eval_batch_size)

    def transfer_batch_to_device(self, batch, device: torch.device, dataloader_idx: int):
        """Batches are cut from tensors already on the training device (see _device_split), so
        Lightning's walk over every batch to move it would only cost time."""
        first = batch[0] if isinstance(batch, list) else batch
        if all(tensor.device == device for key, tensor in first.items() if key not in LENGTH_KEYS):
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """Augment here, on the training device, and only while training: validation and test see the
        data as it is, and the splits kept on the device are never changed (ops return new tensors)."""
        if self.augmentation is None or self.trainer is None or not self.trainer.training:
            return batch
        if isinstance(batch, list):  # a group of mini-batches (steps_per_execution)
            return [self.augmentation(b) for b in batch]
        return self.augmentation(batch)

    def _device_split(self, name: str) -> Batch:
        """The split moved once to the trainer's device, so no batch is copied during training."""
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        if name not in self._on_device or _device_of(self._on_device[name]) != device:
            # Lengths stay on the CPU, where pack_padded_sequence reads them.
            self._on_device[name] = {k: v if k in LENGTH_KEYS else v.to(device) for k, v in self.split(name).items()}
        return self._on_device[name]


def counts_training_batches(trainer: pl.Trainer | None) -> bool:
    """Whether a Trainer setting counts training batches, so the training loader must serve one
    optimizer step per Lightning batch rather than a group of data.steps_per_execution steps.

    Lightning's documentation counts limit_train_batches, val_check_interval and overfit_batches in
    batches meaning optimizer steps; with groups of k steps each count would be k times as long.
    Lightning stores them on the Trainer as an int (batches) or a float (a fraction of the epoch),
    1.0 when unset; overfit_batches > 0 and fast_dev_run also overwrite limit_train_batches. A time
    based val_check_interval leaves the attribute unset. Resuming inside an epoch stays exact, as
    `dlrun resume` cannot change these settings: the restored count is of the same loader's batches.
    """
    if trainer is None:  # a loader made outside a fit
        return False
    limits = (trainer.limit_train_batches, getattr(trainer, "val_check_interval", 1.0))
    # An int 1 is one batch, where the float 1.0 is the whole epoch.
    return overfitting(trainer) or any(not (isinstance(v, float) and v == 1.0) for v in limits)


def overfitting(trainer: pl.Trainer | None) -> bool:
    """Whether the fit overfits a few batches (Trainer(overfit_batches > 0))."""
    # Set in Lightning's Trainer.__init__ (trainer/setup.py) but not declared on the class.
    return trainer is not None and getattr(trainer, "overfit_batches", 0) > 0


def _device_of(batch: Batch) -> torch.device:
    return next(tensor for key, tensor in batch.items() if key not in LENGTH_KEYS).device


class SplittingDataModule(InMemoryDataModule):
    """A data set without official splits: split here (seeded, stratified for classes, optionally
    k-fold with a fixed test split) and scaled with statistics of the training split only."""

    def __init__(
        self,
        batch_size: int | None = 64,
        eval_batch_size: int | None = 1024,
        steps_per_execution: int = 32,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        scaling: Scaling | None = "standard",
        split_seed: int = 0,
        folds: int | None = None,
        fold: int = 0,
        bucket_pool_batches: int | None = None,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, steps_per_execution, bucket_pool_batches)
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.scaling = scaling
        self.split_seed = split_seed
        self.folds = folds
        self.fold = fold
        self.fitted_scaler = None

    def split_positions(self, targets: np.ndarray, stratify: bool) -> dict[str, np.ndarray]:
        return split_indices(
            targets,
            self.val_fraction,
            self.test_fraction,
            seed=self.split_seed,
            stratify=stratify,
            folds=self.folds,
            fold=self.fold,
        )

    def fit_scaler(self, train_features: np.ndarray):
        """A scaler fitted on training rows, or None when data.scaling is null; kept as
        `fitted_scaler` for the preprocessing file that `dlrun predict` reads."""
        self.fitted_scaler = fit_scaler(self.scaling, train_features)
        return self.fitted_scaler
