"""Logging for tasks whose whole step costs less than Lightning's `self.log` bookkeeping.

`self.log` costs about half a millisecond a key, a twentieth of a small model's whole epoch, and
its interval counts Lightning batches, which in dlrun hold several optimizer steps each (see
TensorBatches' group_size). These write the same values straight to where `self.log` would put
them: the loggers, the metrics that callbacks read, and the progress bar.
"""

from __future__ import annotations

import pytorch_lightning as pl
from torch import Tensor


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
        for logger in self.loggers:
            logger.log_metrics(scalars, step=self.global_step)
        self.trainer.callback_metrics.update(values)
        self.trainer.progress_bar_metrics.update({k: v for k, v in scalars.items() if k in headline})
