"""Logging for tasks whose whole step costs less than Lightning's `self.log` bookkeeping, on one step axis.

`self.log` costs about half a millisecond a key, a twentieth of a small model's whole epoch, and
its interval counts Lightning batches, which in dlrun hold several optimizer steps each (see
TensorBatches' group_size). These write the same values straight to where `self.log` would put
them: the loggers, the metrics that callbacks read, and the progress bar.

Every value a run logs, train, validation and test, scalars, figures and histograms, goes at the
optimizer step (`trainer.global_step`), so that one x axis means the same in every chart and every
run; `align_logging_step` puts what Lightning logs itself on that axis too.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.utilities.types import STEP_OUTPUT
from torch import Tensor

from dlrun.epochs import user_epoch


def align_logging_step(trainer: pl.Trainer) -> None:
    """Make the step that Lightning logs at the optimizer step.

    `self.log` (in the task, its subclasses and any callback), Lightning's LearningRateMonitor and
    DeviceStatsMonitor all write at the fit loop's `_batches_that_stepped`, a count of Lightning
    batches, and after `fit` at that count plus one. Setting that one counter, rather than writing
    our own values around it, also moves what we do not know of onto the optimizer-step axis. It
    drives nothing but logging: checkpoints keep it only to resume it, and the log interval it is
    checked against is 1 (building.split_step_settings gives the Trainer log_every_n_steps=1).
    Lightning adds 1 after each training batch (and takes it back around the epoch-end logging), so
    it is set again before Lightning reads it: by the task's hooks below, and by a callback that
    reads it in its own hooks, which run before the task's (callbacks/lr_monitor.py).
    """
    trainer.fit_loop.epoch_loop._batches_that_stepped = trainer.global_step


class FastLogging(pl.LightningModule):
    _last_logged_step: int = 0

    def log_step_loss(self, losses: Tensor, every: int) -> None:
        """Write `train/loss_step` every `every` optimizer steps."""
        step = self.global_step
        if step // every == self._last_logged_step // every:
            return
        self._last_logged_step = step
        loss = {"train/loss_step": float(losses.mean())}
        for logger in self.loggers:
            logger.log_metrics(loss, step=step)
        self.trainer.progress_bar_metrics.update(loss)

    def publish_epoch_values(self, values: dict[str, Tensor], headline: set[str]) -> None:
        """What `self.log` does for epoch-level values, without its per-key cost."""
        scalars = {name: float(value) for name, value in values.items()}
        # `epoch`: the epoch that is ending, as users number it, like the validation values logged at
        # the same step (SupervisedTask logs it with them, in place of Lightning's 0-based one).
        logged = {**scalars, "epoch": float(user_epoch(self.current_epoch))}
        for logger in self.loggers:
            logger.log_metrics(logged, step=self.global_step)
        self.trainer.callback_metrics.update(values)
        self.trainer.progress_bar_metrics.update({k: v for k, v in scalars.items() if k in headline})

    # The hooks after which Lightning writes what `self.log` collected: the training batch's end
    # (step values, and validation inside or at the end of the epoch) and the start of an evaluation
    # (testing after `fit` would otherwise log one past the last step). A subclass that overrides
    # one of them calls super().
    def on_train_batch_end(self, outputs: STEP_OUTPUT, batch: Any, batch_idx: int) -> None:
        align_logging_step(self.trainer)

    def on_validation_start(self) -> None:
        align_logging_step(self.trainer)

    def on_test_start(self) -> None:
        align_logging_step(self.trainer)
