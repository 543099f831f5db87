"""Time series: the next `horizon` steps after the last `lookback` rows of INPUT, in the series' units.

INPUT has the run's value columns (the target, then any data.features). As in training, rows are
sorted by the run's data.time_column when INPUT has it, rows missing a value at the very start or end
are dropped and gaps inside are interpolated; the last `lookback` rows are standardized with the
training part's means and standard deviations from series.json, and the forecast is scaled back.
One output row per step ahead: `step`, `time` (when the times are evenly spaced, or dates of a
regular frequency) and `prediction`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from dlrun.data.series.times import TimeColumnProblem, read_times
from dlrun.errors import DlrunError
from dlrun.predict import inputs as read
from dlrun.predict.modules import Readout, SeriesWindow
from dlrun.predict.output import Predictions
from dlrun.predict.run import PredictingRun, network_outputs


def predict_series(run: PredictingRun, source: str) -> Predictions:
    from dlrun.data.series.values import interpolate_gaps, observed_span

    saved = run.saved
    columns, lookback, horizon = list(saved["columns"]), int(saved["lookback"]), int(saved["horizon"])
    table = read.read_table(source, f"a series with the columns {', '.join(columns)}, one row per step")
    read.require_columns(table, columns, source, "series columns")
    values = read.numeric_matrix(table, columns, source)
    time_column = saved.get("time_column")
    time = None
    if time_column is not None and time_column in table.columns:
        time = _times(table[time_column], source, time_column)
        order = np.argsort(time, kind="stable")
        time, values = time[order], values[order]
    first, last = observed_span(values)
    values = interpolate_gaps(values[first:last])
    time = None if time is None else time[first:last]
    if len(values) < lookback:
        raise DlrunError(
            f"INPUT {read.describe(source)} has {len(values)} steps with every value of {', '.join(columns)}, and the "
            f"run forecasts from the last {lookback} (data.lookback): give at least {lookback} rows."
        )
    assert run.spec is not None and run.model is not None
    readout = Readout.of(run.spec)
    assert readout is not None  # a forecasting spec has one
    # The modules that `dlrun export` puts around the network in the graph.
    with torch.no_grad():
        window = SeriesWindow(saved)(torch.from_numpy(np.ascontiguousarray(values[-lookback:]))[None])
        outputs = network_outputs(run.model, window)
        forecast = readout(outputs)[0]
    rows = pd.DataFrame({"step": np.arange(1, horizon + 1)})
    future = None if time is None else _future_times(time[-lookback:], horizon)
    if future is not None:
        rows["time"] = future
    rows["prediction"] = forecast.numpy()
    return Predictions(rows)


def _times(column: pd.Series, source: str, name: str) -> np.ndarray:
    """The time column as numbers or datetime64, as SeriesDataModule reads it."""
    try:
        return read_times(column)
    except TimeColumnProblem as problem:
        where, value = read.row_name(problem.position, source), column.iloc[problem.position]
        column_of = f"Column '{name}' (the run's time column) of {read.describe(source)}"
        raise DlrunError(
            {
                "missing": f"{column_of} has no value in {where}: every row needs its time.",
                "unparsed": f"{column_of} holds '{value}' in {where}, which is neither a number nor a date.",
                "repeated": f"Column '{name}' of {read.describe(source)} repeats the time {value}: a series has one row per time.",
            }[problem.kind]
        ) from None


def _future_times(past: np.ndarray, horizon: int) -> list | None:
    """The times of the next steps, when the past ones are evenly spaced (numbers) or of a regular
    frequency (dates); None otherwise."""
    if len(past) < 2:
        return None
    if np.issubdtype(past.dtype, np.datetime64):
        if len(past) < 3:
            return None
        try:
            frequency = pd.infer_freq(pd.DatetimeIndex(past))
        except (TypeError, ValueError):
            frequency = None
        if frequency is None:
            return None
        return list(pd.date_range(pd.Timestamp(past[-1]), periods=horizon + 1, freq=frequency)[1:])
    steps = np.diff(past)
    if not np.all(steps == steps[0]):
        return None
    return [(past[-1] + steps[0] * k).item() for k in range(1, horizon + 1)]
