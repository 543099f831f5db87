"""The schedule shared by callbacks that draw a figure of a stage: every N validation epochs, and after testing."""

from __future__ import annotations

from abc import abstractmethod
from time import perf_counter

import pytorch_lightning as pl

from dlrun.checks import check_number


class StageFigure(pl.Callback):
    """Calls `log_figure(trainer, pl_module, "val")` every `every_n_epochs` validation epochs (0 = never)
    and `log_figure(..., "test")` after testing.

    With a `time_budget`, the validation figures take at most that share of the fit's time: a due
    figure waits until the fit has run for its cost / time_budget since the last one (its cost is
    `first_cost_s` until one has been drawn and timed). A 10-class confusion matrix takes a quarter
    of a second to draw; every 10 epochs of a digits MLP, whose epochs last 50 ms, it would double the
    fit's time."""

    def __init__(self, every_n_epochs: int, time_budget: float | None = None, first_cost_s: float = 0.25) -> None:
        check_number("time_budget", time_budget, above=0, at_most=1, null_means="for no limit", error=ValueError)
        self.every_n_epochs = every_n_epochs
        self.time_budget = time_budget
        self._cost_s = first_cost_s
        self._last_drawn: float | None = None  # when the fit started, or the last figure was drawn
        self._epochs_since = 0

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._last_drawn = perf_counter()

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.every_n_epochs <= 0:
            return
        self._epochs_since += 1
        if self._epochs_since < self.every_n_epochs or not self._affordable():
            return
        started = perf_counter()
        self.log_figure(trainer, pl_module, "val")
        self._last_drawn = perf_counter()
        self._cost_s, self._epochs_since = self._last_drawn - started, 0

    def _affordable(self) -> bool:
        if self.time_budget is None or self._last_drawn is None:
            return True
        return (perf_counter() - self._last_drawn) * self.time_budget >= self._cost_s

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.log_figure(trainer, pl_module, "test")

    @abstractmethod
    def log_figure(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Draw the stage's figure into TensorBoard, or do nothing when it does not apply."""
