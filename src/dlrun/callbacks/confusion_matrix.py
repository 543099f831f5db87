"""Confusion matrices as TensorBoard images, for any task that keeps a `confusion` metric per stage."""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.loggers import TensorBoardLogger

from dlrun.callbacks.stage_figure import StageFigure


class ConfusionMatrixImage(StageFigure):
    """Logs `val/confusion_matrix` every `every_n_epochs` epochs and `test/confusion_matrix` after testing."""

    def __init__(self, every_n_epochs: int = 10) -> None:
        super().__init__(every_n_epochs)

    def log_figure(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
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
