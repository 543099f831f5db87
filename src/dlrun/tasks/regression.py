"""Regression on standardized targets, with metrics reported in the data's original units."""

from __future__ import annotations

from torch import Tensor
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection, R2Score

from dlrun.tasks.base import SupervisedTask


class RegressionTask(SupervisedTask):
    """Mean squared error on standardized targets; MAE, RMSE and R2 in original units."""

    data_kinds = ("regression",)
    headline_metrics = ("mae", "r2")

    def make_metrics(self) -> MetricCollection:
        return MetricCollection({"mae": MeanAbsoluteError(), "rmse": MeanSquaredError(squared=False), "r2": R2Score()})

    def make_train_metrics(self) -> MetricCollection:
        return MetricCollection({"mae": MeanAbsoluteError()})

    def loss_inputs(self, outputs: Tensor) -> Tensor:
        return outputs.squeeze(-1)

    def metric_inputs(self, outputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        scale, shift = self.spec.target_std, self.spec.target_mean
        return outputs.squeeze(-1) * scale + shift, targets * scale + shift
