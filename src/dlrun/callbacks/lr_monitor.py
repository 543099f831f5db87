"""Lightning's learning-rate monitor, which stands aside in runs without a logger (`logger=none`)."""

from __future__ import annotations

import pytorch_lightning as pl


class LearningRateMonitor(pl.callbacks.LearningRateMonitor):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._active = True

    def on_train_start(self, trainer: pl.Trainer, *args, **kwargs) -> None:
        self._active = bool(trainer.loggers)  # Lightning raises instead: nowhere to log to
        if self._active:
            super().on_train_start(trainer, *args, **kwargs)

    def on_train_batch_start(self, trainer: pl.Trainer, *args, **kwargs) -> None:
        if self._active:
            super().on_train_batch_start(trainer, *args, **kwargs)

    def on_train_epoch_start(self, trainer: pl.Trainer, *args, **kwargs) -> None:
        if self._active:
            super().on_train_epoch_start(trainer, *args, **kwargs)
