"""Lightning's learning-rate monitor, which stands aside in runs without a logger (`logger=none`) and
logs at the optimizer step like every other value (see tasks/fast_logging.align_logging_step)."""

from __future__ import annotations

import pytorch_lightning as pl

from dlrun.tasks.fast_logging import align_logging_step


class LearningRateMonitor(pl.callbacks.LearningRateMonitor):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._active = True

    def on_train_start(self, trainer: pl.Trainer, *args, **kwargs) -> None:
        self._active = bool(trainer.loggers)  # Lightning raises instead: nowhere to log to
        if self._active:
            super().on_train_start(trainer, *args, **kwargs)

    # Lightning writes these at its batch count, and a callback's hooks run before the task's, which
    # aligns it: the rate is logged at the number of steps taken before it applies, as Lightning does.
    def on_train_batch_start(self, trainer: pl.Trainer, *args, **kwargs) -> None:
        if self._active:
            align_logging_step(trainer)
            super().on_train_batch_start(trainer, *args, **kwargs)

    def on_train_epoch_start(self, trainer: pl.Trainer, *args, **kwargs) -> None:
        if self._active:
            align_logging_step(trainer)
            super().on_train_epoch_start(trainer, *args, **kwargs)
