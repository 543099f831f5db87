"""LightningModules that join a plain model with its loss, metrics and optimizer."""

from dlrun.errors import ConfigError
from dlrun.tasks.base import SupervisedTask
from dlrun.tasks.classification import ClassificationTask
from dlrun.tasks.ctc import CTCTask
from dlrun.tasks.forecasting import ForecastingTask
from dlrun.tasks.regression import RegressionTask
from dlrun.tasks.seq2seq import Seq2SeqTask
from dlrun.tasks.stepping import StepSettings

__all__ = [
    "CTCTask",
    "ClassificationTask",
    "ForecastingTask",
    "RegressionTask",
    "Seq2SeqTask",
    "StepSettings",
    "SupervisedTask",
    "task_class_for",
]

# task=auto: the task for each kind of data a data module may serve (DataSpec.task).
TASK_FOR_DATA: dict[str, type[SupervisedTask]] = {
    "multiclass": ClassificationTask,
    "binary": ClassificationTask,
    "regression": RegressionTask,
    "forecasting": ForecastingTask,
    "seq2seq": Seq2SeqTask,
    "ctc": CTCTask,
}


def task_class_for(kind: str) -> type[SupervisedTask]:
    if kind not in TASK_FOR_DATA:
        raise ConfigError(
            f"The data serves '{kind}' examples, and no task is known for that kind (known: "
            f"{', '.join(TASK_FOR_DATA)}). Pick a task that trains on it with task=..., or point "
            "task._target_ at your own task class."
        )
    return TASK_FOR_DATA[kind]
