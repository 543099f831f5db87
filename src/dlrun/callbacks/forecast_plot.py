"""Forecasts against the truth as a figure for TensorBoard, MLflow and W&B, for forecasting runs on a series data module."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, cast

import numpy as np
import pytorch_lightning as pl
import torch

from dlrun.callbacks.stage_figure import StageFigure
from dlrun.trackers.sinks import Sinks

if TYPE_CHECKING:
    from dlrun.data.series.forecast_series import ForecastSeries
    from dlrun.tasks.base import SupervisedTask

log = logging.getLogger(__name__)

Line = tuple[str, np.ndarray, np.ndarray]


def default_steps(horizon: int) -> list[int]:
    """Step 1 ahead and the last step of the horizon (one step when the horizon is 1)."""
    return sorted({1, int(horizon)})


def forecast_lines(series: ForecastSeries, forecasts: np.ndarray, steps_ahead: Iterable[int]) -> list[Line]:
    """What the plot draws, as (label, times, values): the truth over the whole part first, then for
    each step k the forecasts made k steps ahead placed at the times they forecast,
    (time[targets[:, k-1]], forecasts[:, k-1]). `forecasts` (N, horizon) are in the original units,
    row i for window i of the part; a step outside 1..horizon is an error."""
    forecasts = np.asarray(forecasts)
    horizon = series.targets.shape[1]
    if forecasts.shape != series.targets.shape:
        raise ValueError(f"forecasts have shape {forecasts.shape}, the part's windows {series.targets.shape}")
    lines: list[Line] = [("truth", series.time, series.values)]
    for step in steps_ahead:
        if not 1 <= step <= horizon:
            raise ValueError(f"step {step} ahead is outside the horizon of 1 .. {horizon} steps")
        label = f"forecast, {step} step{'s' if step > 1 else ''} ahead"
        lines.append((label, series.time[series.targets[:, step - 1]], forecasts[:, step - 1]))
    return lines


@torch.no_grad()
def collect_forecasts(pl_module: pl.LightningModule, batches: Iterable) -> np.ndarray:
    """The module's forecasts over the batches in their order, unscaled to the series' units
    (N, horizon) float64; the module runs in eval mode on its own device and is left as it was."""
    task = cast("SupervisedTask", pl_module)  # a forecasting task: its spec and forward_batch
    spec = task.spec
    training = pl_module.training
    pl_module.eval()
    outputs = []
    try:
        for batch in batches:
            for piece in batch if isinstance(batch, list) else [batch]:
                piece = {key: value.to(pl_module.device) if key != "lengths" else value for key, value in piece.items()}
                outputs.append(task.forward_batch(piece).double().cpu())
    finally:
        pl_module.train(training)
    if not outputs:
        return np.zeros((0, int(spec.horizon)))
    return (torch.cat(outputs) * spec.target_std + spec.target_mean).numpy()


class ForecastPlot(StageFigure):
    """Logs `test/forecast` after testing, and `val/forecast` every `every_n_epochs` epochs (0: never):
    the true series of that part as a line, and the forecasts `steps_ahead` steps ahead (default:
    1 and the horizon) at the times they forecast. Only for data modules with `test_series` (the
    series ones) and with a logger that takes figures (dlrun.trackers.sinks); otherwise it does nothing."""

    def __init__(self, steps_ahead: Sequence[int] | None = None, every_n_epochs: int = 0) -> None:
        if steps_ahead is not None:
            steps_ahead = [steps_ahead] if isinstance(steps_ahead, int) else list(steps_ahead)
            if not steps_ahead or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in steps_ahead):
                raise ValueError(f"steps_ahead must be whole numbers of steps, at least 1, or null; got {steps_ahead}")
            steps_ahead = list(dict.fromkeys(steps_ahead))
        super().__init__(every_n_epochs)
        self.steps_ahead = steps_ahead

    def log_figure(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        datamodule = getattr(trainer, "datamodule", None)
        sinks = Sinks.of(trainer.loggers)
        if not callable(getattr(datamodule, "test_series", None)) or not sinks:
            return
        assert datamodule is not None  # it has test_series (above)
        series = datamodule.test_series(stage)
        loader = datamodule.test_dataloader() if stage == "test" else datamodule.val_dataloader()
        forecasts = collect_forecasts(pl_module, loader)
        horizon = series.targets.shape[1]
        steps = self.steps_ahead or default_steps(horizon)
        beyond = [s for s in steps if s > horizon]
        if beyond:
            log.warning(
                "callbacks.forecast_plot.steps_ahead %s lie beyond data.horizon=%d: left out of the plot",
                beyond,
                horizon,
            )
            steps = [s for s in steps if s <= horizon] or default_steps(horizon)
        lines = forecast_lines(series, forecasts, steps)
        figure = draw_forecast(lines, f"{series.name}: forecasts against the truth, {stage} part", series.name)
        sinks.figure(f"{stage}/forecast", figure, trainer.global_step)
        # A bare matplotlib Figure, never registered with pyplot (so no backend switch and no global
        # state): there is no window to close, and nothing holds it once this returns.


def draw_forecast(lines: Sequence[Line], title: str, ylabel: str = "value"):
    """A matplotlib Figure of the lines (the first, the truth, drawn heavier), with dates on the x
    axis when the times are datetime64."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4), layout="constrained")
    axes = figure.add_subplot()
    for index, (label, times, values) in enumerate(lines):
        style = {"color": "black", "linewidth": 1.5} if index == 0 else {"linewidth": 1.0, "alpha": 0.85}
        axes.plot(times, values, label=label, **style)
    times = lines[0][1]
    if np.issubdtype(np.asarray(times).dtype, np.datetime64):
        locator = AutoDateLocator()
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes.set_title(title)
    axes.set_xlabel("time")
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    axes.legend(loc="best")
    return figure
