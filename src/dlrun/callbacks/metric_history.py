"""Record every epoch's logged metrics, so a run's results hold its curves and its best epoch."""

from __future__ import annotations

import math
from typing import cast

import pytorch_lightning as pl

from dlrun.training.mid_epoch import batches_done_in_epoch


def finished_epoch_metrics(trainer: pl.Trainer) -> dict[str, float]:
    """The epoch-level train/ and val/ metrics of the epoch that just finished.

    Lightning publishes a training epoch's aggregated metrics only after every callback's
    `on_train_epoch_end`, so callbacks read them at the next epoch's start or at the end of training.
    """
    return {
        name: float(value)
        for name, value in trainer.callback_metrics.items()
        if name.startswith(("train/", "val/")) and not name.endswith("_step")
    }


class MetricHistory(pl.Callback):
    def __init__(self) -> None:
        self.epochs: list[dict[str, float]] = []

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._record(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._record(trainer)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer

    def state_dict(self) -> dict:
        """The epochs so far, with the one a checkpoint is saved at the end of (recorded here only
        at the next epoch's start, which a resumed run would reach with none of its metrics); not
        the one a checkpoint is saved inside of, which the resumed run finishes and records."""
        trainer = getattr(self, "_trainer", None)
        epochs = list(self.epochs)
        at_epoch_end = trainer is not None and not trainer.sanity_checking and not batches_done_in_epoch(trainer)
        if at_epoch_end:
            assert trainer is not None  # at_epoch_end says so
            if not (epochs and epochs[-1]["epoch"] >= trainer.current_epoch):
                epochs.append({"epoch": trainer.current_epoch, **finished_epoch_metrics(trainer)})
        return {"epochs": epochs}

    def load_state_dict(self, state_dict: dict) -> None:
        self.epochs = list(state_dict["epochs"])

    def _record(self, trainer: pl.Trainer) -> None:
        epoch = trainer.current_epoch - 1
        if epoch < 0 or (self.epochs and self.epochs[-1]["epoch"] >= epoch):
            return
        self.epochs.append({"epoch": epoch, **finished_epoch_metrics(trainer)})

    def best(self, monitor: str, mode: str) -> tuple[float | None, int | None]:
        """The best value of `monitor` over the epochs, and the epoch it was reached in."""
        scored = [(row[monitor], row["epoch"]) for row in self.epochs if math.isfinite(row.get(monitor, math.nan))]
        if not scored:
            return None, None
        pick = min if mode == "min" else max
        return cast(tuple[float, int], pick(scored, key=lambda pair: pair[0]))  # the "epoch" entries are ints
