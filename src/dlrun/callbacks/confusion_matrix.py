"""Confusion matrices as images for TensorBoard, MLflow and W&B, for any task that keeps a `confusion` metric per stage."""

from __future__ import annotations

import pytorch_lightning as pl

from dlrun.callbacks.stage_figure import StageFigure
from dlrun.trackers.sinks import Sinks


class ConfusionMatrixImage(StageFigure):
    """Logs `val/confusion_matrix` every `every_n_epochs` epochs and `test/confusion_matrix` after testing."""

    def __init__(self, every_n_epochs: int = 10) -> None:
        super().__init__(every_n_epochs)

    def log_figure(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        confusion = getattr(pl_module, "confusion", None)
        sinks = Sinks.of(trainer.loggers)
        if confusion is None or not sinks or confusion[stage].update_count == 0:
            return
        import matplotlib

        matplotlib.use("Agg")  # no display needed, and none exists in CI
        import matplotlib.pyplot as plt

        names = list(getattr(getattr(pl_module, "spec", None), "class_names", ()) or [])
        metric = confusion[stage]
        figure, _ = metric.plot(labels=names or None)
        figure.set_size_inches(6, 6)
        sinks.figure(f"{stage}/confusion_matrix", figure, trainer.global_step)
        plt.close(figure)
