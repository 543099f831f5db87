"""The schedule shared by callbacks that draw a figure of a stage: every N validation epochs, and after testing."""

from __future__ import annotations

from abc import abstractmethod

import pytorch_lightning as pl


class StageFigure(pl.Callback):
    """Calls `log_figure(trainer, pl_module, "val")` every `every_n_epochs` validation epochs (0 = never)
    and `log_figure(..., "test")` after testing."""

    def __init__(self, every_n_epochs: int) -> None:
        self.every_n_epochs = every_n_epochs

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.every_n_epochs <= 0:
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self.log_figure(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.log_figure(trainer, pl_module, "test")

    @abstractmethod
    def log_figure(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Draw the stage's figure into TensorBoard, or do nothing when it does not apply."""
