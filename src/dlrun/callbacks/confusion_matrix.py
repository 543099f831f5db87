"""Confusion matrices as images for TensorBoard, MLflow and W&B, for any task that keeps a `confusion` metric per stage."""

from __future__ import annotations

import pytorch_lightning as pl

from dlrun.callbacks.stage_figure import StageFigure
from dlrun.trackers.sinks import Sinks


class ConfusionMatrixImage(StageFigure):
    """Logs `val/confusion_matrix` every `every_n_epochs` epochs (within `time_budget` of the fit's
    time, see StageFigure) and `test/confusion_matrix` after testing."""

    def __init__(self, every_n_epochs: int = 10, time_budget: float | None = 0.05) -> None:
        super().__init__(every_n_epochs, time_budget)

    def log_figure(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        confusion = getattr(pl_module, "confusion", None)
        sinks = Sinks.of(trainer.loggers)
        if confusion is None or not sinks or confusion[stage].update_count == 0:
            return
        from dlrun.report.figures import figure as bare_figure

        names = list(getattr(getattr(pl_module, "spec", None), "class_names", ()) or [])
        # On a bare Figure, without pyplot or a layout engine: a third faster than torchmetrics' own.
        figure, axes = bare_figure(width=6, height=6, layout=None)
        confusion[stage].plot(ax=axes, labels=names or None)
        figure.subplots_adjust(left=0.16, bottom=0.16, right=0.96, top=0.94)
        sinks.figure(f"{stage}/confusion_matrix", figure, trainer.global_step)
