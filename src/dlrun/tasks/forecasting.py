"""Forecasting the next `horizon` steps of a series, with metrics in the series' own units."""

from __future__ import annotations

from torch import Tensor
from torchmetrics import MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredError, Metric, MetricCollection

from dlrun.tasks.base import SupervisedTask


class PercentError(MeanAbsolutePercentageError):
    """MAPE in percent: mean(|error| / max(|truth|, 1.17e-06)) * 100, torchmetrics' guard against 0."""

    def compute(self) -> Tensor:
        return super().compute() * 100


class ScaledError(MeanAbsoluteError):
    """MASE: the MAE divided by the seasonal-naive forecast's in-sample MAE on the training part
    (Hyndman & Koehler 2006); below 1 beats that forecast."""

    def __init__(self, scale: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.scale = scale

    def compute(self) -> Tensor:
        return super().compute() / self.scale


class ForecastingTask(SupervisedTask):
    """MSE on standardized targets; every step of the horizon counts once in each metric."""

    data_kinds = ("forecasting",)
    headline_metrics = ("mae",)

    def make_metrics(self) -> MetricCollection:
        metrics: dict[str, Metric | MetricCollection] = {
            "mae": MeanAbsoluteError(),
            "rmse": MeanSquaredError(squared=False),
            "mape": PercentError(),
        }
        if self.spec.naive_scale > 0:
            metrics["mase"] = ScaledError(self.spec.naive_scale)
        return MetricCollection(metrics)

    def make_train_metrics(self) -> MetricCollection:
        return MetricCollection({"mae": MeanAbsoluteError()})

    def metric_inputs(self, outputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        scale, shift = self.spec.target_std, self.spec.target_mean
        return (outputs * scale + shift).flatten(), (targets * scale + shift).flatten()

    def predict_step(self, batch, batch_idx: int = 0) -> Tensor:
        """Forecasts in the series' units, (N, horizon)."""
        return self.forward_batch(batch) * self.spec.target_std + self.spec.target_mean
