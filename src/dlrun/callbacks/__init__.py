"""Lightning callbacks that dlrun adds to what Lightning ships."""

from dlrun.callbacks.attention_maps import AttentionMaps
from dlrun.callbacks.checkpoint import ModelCheckpoint
from dlrun.callbacks.confusion_matrix import ConfusionMatrixImage
from dlrun.callbacks.diagnostics import Diagnostics
from dlrun.callbacks.early_stopping import EarlyStopping
from dlrun.callbacks.forecast_plot import ForecastPlot
from dlrun.callbacks.length_metrics import LengthMetricsFigure
from dlrun.callbacks.lr_monitor import LearningRateMonitor
from dlrun.callbacks.metric_history import MetricHistory
from dlrun.callbacks.optuna_pruning import OptunaPruning
from dlrun.callbacks.progress import PlainProgress, progress_bar
from dlrun.callbacks.random_states import RandomStates
from dlrun.callbacks.step_checkpoint import StepCheckpoint

__all__ = [
    "AttentionMaps",
    "ConfusionMatrixImage",
    "Diagnostics",
    "EarlyStopping",
    "ForecastPlot",
    "LearningRateMonitor",
    "LengthMetricsFigure",
    "MetricHistory",
    "ModelCheckpoint",
    "OptunaPruning",
    "PlainProgress",
    "RandomStates",
    "StepCheckpoint",
    "progress_bar",
]
