"""Confusion matrices as TensorBoard images, for any task that keeps a `confusion` metric per stage."""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.loggers import TensorBoardLogger


class ConfusionMatrixImage(pl.Callback):
    """Logs `val/confusion_matrix` every `every_n_epochs` epochs and `test/confusion_matrix` after testing."""

    def __init__(self, every_n_epochs: int = 10) -> None:
        self.every_n_epochs = every_n_epochs

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.every_n_epochs <= 0:
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self._log(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._log(trainer, pl_module, "test")

    def _log(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        confusion = getattr(pl_module, "confusion", None)
        writers = [lg.experiment for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]
        if confusion is None or not writers or confusion[stage].update_count == 0:
            return
        import matplotlib

        matplotlib.use("Agg")  # no display needed, and none exists in CI
        import matplotlib.pyplot as plt

        names = list(getattr(getattr(pl_module, "spec", None), "class_names", ()) or [])
        metric = confusion[stage]
        figure, _ = metric.plot(labels=names or None)
        figure.set_size_inches(6, 6)
        for writer in writers:
            writer.add_figure(f"{stage}/confusion_matrix", figure, global_step=trainer.global_step, close=False)
        plt.close(figure)
