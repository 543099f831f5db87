"""LightningModules that join a plain model with its loss, metrics and optimizer."""

from dlrun.tasks.base import SupervisedTask
from dlrun.tasks.classification import ClassificationTask
from dlrun.tasks.regression import RegressionTask

__all__ = ["ClassificationTask", "RegressionTask", "SupervisedTask", "task_class_for"]


def task_class_for(kind: str) -> type[SupervisedTask]:
    return RegressionTask if kind == "regression" else ClassificationTask
