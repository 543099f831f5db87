"""Time series for forecasting: windows of `lookback` steps that predict the next `horizon` steps.

The series is split by time, never shuffled across the split: the first part trains, the next
validates, the last tests. A window is named by its *origin* t, the position of its first target:
its inputs are the steps t-lookback .. t-1 and its targets t .. t+horizon-1. Each window belongs to
the part that holds all of its targets, and no window's targets cross a boundary. A validation or
test window's inputs may reach back into the earlier parts: at forecast time the past is known, and
this way the first steps of the validation and test parts are forecast too. Every validation target
therefore lies after every training target, and every test target after every validation target.

Gaps (missing values) inside the series are filled by linear interpolation between their neighbours
(by position, so one step counts as one step whatever the timestamps say); rows missing a value at the
very start or end are dropped, since filling them would mean inventing values outside what was seen.
Interpolated values count as truth for the metrics and baselines like observed ones.

Every value column (the target, then any extra `features`) is standardized with the mean and
standard deviation of the training part only. The windows' inputs are (N, lookback, F) float32,
their targets (N, horizon) float32 of the standardized target; the spec's target_mean/target_std
turn them back into the original units.

`baselines()` scores two forecasts that need no training on the same test windows, in the original
units, with the formulas the forecasting task's metrics use:
- naive: the last input value, repeated over the horizon;
- seasonal_naive (when `season` m is set): for target step h (1-based), the latest input value at the
  same position in the season, y[t-1+h - m*ceil(h/m)], which is never after the window's last input.
MAE, RMSE, MAPE and MASE are taken over every (window, step) pair. MAPE is in percent as torchmetrics'
MeanAbsolutePercentageError * 100 computes it: mean(|error| / max(|y|, 1.17e-06)) * 100. A zero target
is not skipped: it adds |error| / 1.17e-06 (a huge term), the same as the model's metric, so the two stay
comparable; on a series with zeros (sunspots has three zero years, all in its training part) prefer MAE
or MASE. MASE is MAE divided by the spec's naive_scale, the in-sample MAE of the seasonal-naive forecast
on the training part, mean |y_t - y_(t-m)| (m = 1 without a season).
"""

from __future__ import annotations

import json
import logging
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pandas.api.types import is_numeric_dtype

from dlrun.data.in_memory import SPLITS, InMemoryDataModule
from dlrun.data.loader import Batch
from dlrun.data.spec import DataSpec
from dlrun.data.table import read_table
from dlrun.errors import ConfigError, did_you_mean

log = logging.getLogger(__name__)

FILES = Path(__file__).with_name("files")
CO2_CSV = FILES / "co2.csv"
SUNSPOTS_CSV = FILES / "sunspots.csv"
# torchmetrics' MeanAbsolutePercentageError clamps |target| to at least this before dividing.
MAPE_EPSILON = 1.17e-06


# -- pure helpers ------------------------------------------------------------------------------


def numeric_values(frame: pd.DataFrame, columns: Sequence[str], source: str) -> np.ndarray:
    """The columns as a (rows, columns) float64 array, missing values as NaN; a value that is
    neither a number nor missing is an error naming its column and row."""
    blocks = []
    for column in columns:
        values = frame[column]
        if not is_numeric_dtype(values):
            parsed = pd.to_numeric(values, errors="coerce")
            bad = values.notna() & parsed.isna()
            if bad.any():
                position = int(np.flatnonzero(bad.to_numpy())[0])
                raise ConfigError(
                    f"Column '{column}' of {source} holds a value that is not a number: "
                    f"'{values.iloc[position]}' in data row {position + 1} (not counting the header line). "
                    f"A series column needs numbers; leave a missing value empty (it is interpolated), or "
                    f"leave the column out of data.features."
                )
            values = parsed
        blocks.append(values.to_numpy(dtype=np.float64, na_value=np.nan))
    return np.stack(blocks, axis=1) if blocks else np.zeros((len(frame), 0))


def observed_span(values: np.ndarray) -> tuple[int, int]:
    """[first, last) rows from the first row with every value present to the last such row."""
    complete = ~np.isnan(values).any(axis=1)
    if not complete.any():
        return 0, 0
    rows = np.flatnonzero(complete)
    return int(rows[0]), int(rows[-1]) + 1


def interpolate_gaps(values: np.ndarray) -> np.ndarray:
    """Missing values filled linearly from their neighbours in the same column, by position.

    Only gaps inside a column's observed span are filled; missing values before its first or after
    its last observed value stay NaN (trim them with `observed_span`)."""
    filled = np.array(values, dtype=np.float64, copy=True)
    if filled.ndim == 1:
        return interpolate_gaps(filled[:, None])[:, 0]
    positions = np.arange(len(filled))
    for column in range(filled.shape[1]):
        gaps = np.isnan(filled[:, column])
        if not gaps.any() or gaps.all():
            continue
        seen = np.flatnonzero(~gaps)
        inside = gaps & (positions > seen[0]) & (positions < seen[-1])
        filled[inside, column] = np.interp(positions[inside], seen, filled[seen, column])
    return filled


def split_bounds(length: int, val_fraction: float, test_fraction: float) -> dict[str, tuple[int, int]]:
    """[start, end) of the train, val and test parts of a series of `length` steps, in time order."""
    test = int(round(length * test_fraction))
    val = int(round(length * val_fraction))
    train = length - val - test
    return {"train": (0, train), "val": (train, train + val), "test": (train + val, length)}


def window_origins(start: int, end: int, lookback: int, horizon: int) -> np.ndarray:
    """The origins (first target positions) of every window whose targets lie in [start, end) and
    whose inputs start at position 0 or later; stride 1, in time order."""
    first = max(start, lookback)
    return np.arange(first, max(end - horizon + 1, first), dtype=np.int64)


def make_windows(
    values: np.ndarray, target: np.ndarray, origins: np.ndarray, lookback: int, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs values[t-lookback:t] (N, lookback, F) and targets target[t:t+horizon] (N, horizon)."""
    origins = np.asarray(origins, dtype=np.int64)
    inputs = values[origins[:, None] + np.arange(-lookback, 0)]
    targets = target[origins[:, None] + np.arange(horizon)]
    return inputs, targets


def naive_scale(train_target: np.ndarray, season: int | None) -> float:
    """In-sample MAE of the seasonal-naive forecast, mean |y_t - y_(t-m)| (m = 1 without a season)."""
    m = season or 1
    y = np.asarray(train_target, dtype=np.float64)
    if len(y) <= m:
        raise ConfigError(f"The training part has {len(y)} steps, too few for a season of {m} steps.")
    return float(np.mean(np.abs(y[m:] - y[:-m])))


def naive_forecast(target: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """(N, horizon): each window's last input value, target[t-1], repeated."""
    last = np.asarray(target)[np.asarray(origins) - 1]
    return np.repeat(last[:, None], horizon, axis=1)


def seasonal_offsets(horizon: int, season: int) -> np.ndarray:
    """For steps h = 1..horizon, where the seasonal-naive forecast reads relative to the origin t:
    h - 1 - m*ceil(h/m), always in -m .. -1 (the last season of the inputs)."""
    h = np.arange(1, horizon + 1)
    return h - 1 - season * np.ceil(h / season).astype(np.int64)


def seasonal_naive_forecast(target: np.ndarray, origins: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """(N, horizon): for step h the value one or more whole seasons before it, the latest one at or
    before the window's last input, target[t - 1 + h - m*ceil(h/m)]."""
    return np.asarray(target)[np.asarray(origins)[:, None] + seasonal_offsets(horizon, season)]


def forecast_errors(prediction: np.ndarray, truth: np.ndarray, scale: float, prefix: str = "test") -> dict[str, float]:
    """MAE, RMSE, MAPE (percent, torchmetrics' eps-clamped formula) and MASE (MAE / scale) over all
    values. MASE is left out when the scale is 0 (a training part that its seasonal-naive forecast fits
    exactly), as the forecasting task leaves out its own."""
    prediction = np.asarray(prediction, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    errors = np.abs(prediction - truth)
    mae = float(errors.mean())
    scores = {
        f"{prefix}/mae": mae,
        f"{prefix}/rmse": float(np.sqrt(np.mean(errors**2))),
        f"{prefix}/mape": float(np.mean(errors / np.maximum(np.abs(truth), MAPE_EPSILON)) * 100.0),
    }
    if scale > 0:
        scores[f"{prefix}/mase"] = mae / scale
    return scores


# -- data modules ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForecastSeries:
    """What a plot of forecasts against the truth needs, for one part of the series (the test part).

    `time` holds the part's timestamps (datetime64 when the time column holds dates, its numbers when
    it holds numbers such as years, else the row positions in the file) and `values` the true target
    values in the original units, both of length T. `targets[i]` (N, horizon) are the positions in
    `time`/`values` of the targets of window i of the split, in the order the split serves them (the
    test dataloader does not shuffle): a forecast `f` (N, horizon) in original units is drawn as
    `plot(time[targets[:, k]], f[:, k])` for k steps ahead. `start` is where the part begins in the
    whole (trimmed) series.
    """

    name: str
    time: np.ndarray
    values: np.ndarray
    targets: np.ndarray
    start: int


class SeriesDataModule(InMemoryDataModule):
    """A time series as forecasting windows: chronological split, training-part scaling, baselines.

    Subclasses say where the series comes from (`read_frame`, `source`) and which columns it uses
    (`target`, `features`, `time_column`). `options` (batch_size, eval_batch_size,
    steps_per_execution, ...) go to InMemoryDataModule untouched.
    """

    target: str
    features: Sequence[str]
    time_column: str | None

    def __init__(
        self,
        lookback: int = 24,
        horizon: int = 1,
        season: int | None = None,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        **options,
    ) -> None:
        super().__init__(**options)
        for key, value in (("lookback", lookback), ("horizon", horizon)):
            if not _is_whole(value) or value < 1:
                raise ConfigError(
                    f"data.{key} must be a whole number of steps, at least 1; got {value}. "
                    f"(data.lookback steps of the past predict the next data.horizon steps.)"
                )
        if season is not None and (not _is_whole(season) or season < 1):
            raise ConfigError(
                f"data.season must be the length of the seasonal cycle in steps (at least 1), or null for "
                f"a series without one; got {season}."
            )
        for key, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < value < 1.0:
                raise ConfigError(f"data.{key} must be between 0 and 1 (exclusive), got {value}.")
        if val_fraction + test_fraction >= 1.0:
            raise ConfigError(
                f"data.val_fraction + data.test_fraction must leave steps for training; "
                f"got {val_fraction} + {test_fraction} >= 1."
            )
        if season is not None and lookback < season:
            raise ConfigError(
                f"data.lookback={lookback} is shorter than data.season={season}: the seasonal-naive "
                f"baseline forecasts from the last season of each window's inputs. Set data.lookback to at "
                f"least {season}, or data.season=null for a series without a season."
            )
        self.lookback = int(lookback)
        self.horizon = int(horizon)
        self.season = None if season is None else int(season)
        self.val_fraction = float(val_fraction)
        self.test_fraction = float(test_fraction)
        self._series: _Prepared | None = None

    # -- what subclasses provide

    @property
    @abstractmethod
    def source(self) -> str:
        """How messages name the series, e.g. "'my.csv' (data.path)"."""

    @abstractmethod
    def read_frame(self) -> pd.DataFrame:
        """The raw table holding the target, feature and time columns, rows in file order."""

    @property
    def columns(self) -> list[str]:
        """The value columns, target first: the order of the inputs' last dimension."""
        return [self.target, *self.features]

    # -- loading

    def load(self) -> tuple[dict[str, Batch], DataSpec]:
        series = self._prepare()
        splits = {}
        for split in SPLITS:
            inputs, targets = make_windows(
                series.scaled, series.scaled[:, 0], series.origins[split], self.lookback, self.horizon
            )
            splits[split] = {
                "inputs": torch.as_tensor(inputs, dtype=torch.float32),
                "targets": torch.as_tensor(targets, dtype=torch.float32),
            }
        spec = DataSpec(
            "forecasting",
            (self.lookback, len(self.columns)),
            target_mean=float(series.mean[0]),
            target_std=float(series.std[0]),
            horizon=self.horizon,
            naive_scale=series.naive_scale,
            max_length=self.lookback,
        )
        return splits, spec

    def _prepare(self) -> _Prepared:
        if self._series is not None:
            return self._series
        frame = self.read_frame()
        self._check_columns(frame)
        time = self._time_of(frame)
        values = numeric_values(frame, self.columns, self.source)
        if self.time_column is not None:
            order = np.argsort(time, kind="stable")
            time, values = time[order], values[order]
        first, last = observed_span(values)
        if last - first == 0:
            raise ConfigError(
                f"No row of {self.source} has a value in every series column ({', '.join(self.columns)}): "
                f"there is no series to forecast. Check data.target and data.features."
            )
        if first > 0 or last < len(values):
            log.info(
                "Dropped %d rows at the start and %d at the end of %s: values missing there",
                first, len(values) - last, self.source,
            )
        values, time = values[first:last], time[first:last]
        gaps = int(np.isnan(values).any(axis=1).sum())
        if gaps:
            log.info("Interpolated %d rows with missing values in %s", gaps, self.source)
        values = interpolate_gaps(values)
        bounds = self._bounds(len(values))
        train = values[slice(*bounds["train"])]
        mean, std = train.mean(axis=0), train.std(axis=0)
        for column, deviation, centre in zip(self.columns, std, mean):
            if deviation == 0.0:
                raise ConfigError(
                    f"Column '{column}' of {self.source} has the same value {centre:g} at every step of the "
                    f"training part: there is nothing to learn from it. Pick another column."
                )
        scale = naive_scale(train[:, 0], self.season)
        if scale == 0.0:
            log.warning(
                "The %s forecast fits the training part of %s exactly: MASE is undefined, left out.",
                "seasonal-naive" if self.season else "naive", self.source,
            )
        origins = {
            split: window_origins(start, end, self.lookback, self.horizon) for split, (start, end) in bounds.items()
        }
        self._series = _Prepared(
            time=time,
            values=values,
            scaled=(values - mean) / std,
            mean=mean,
            std=std,
            bounds=bounds,
            origins=origins,
            naive_scale=scale,
        )
        return self._series

    def _bounds(self, length: int) -> dict[str, tuple[int, int]]:
        needed = self.lookback + self.horizon
        if length < needed:
            raise ConfigError(
                f"The series {self.source} has {length} steps, fewer than data.lookback + data.horizon = "
                f"{self.lookback} + {self.horizon} = {needed} that one window needs. Lower data.lookback "
                f"or data.horizon."
            )
        bounds = split_bounds(length, self.val_fraction, self.test_fraction)
        train_steps = bounds["train"][1]
        if train_steps < needed:
            raise ConfigError(
                f"The training part of {self.source} has {train_steps} of its {length} steps, fewer than "
                f"data.lookback + data.horizon = {self.lookback} + {self.horizon} = {needed} that one "
                f"window needs. Lower data.lookback or data.horizon, or data.val_fraction / "
                f"data.test_fraction (now {self.val_fraction} / {self.test_fraction})."
            )
        for split, part in (("val", "validation"), ("test", "test")):
            start, end = bounds[split]
            if end - start < self.horizon:
                raise ConfigError(
                    f"The {part} part of {self.source} has {end - start} of its {length} steps "
                    f"(data.{split}_fraction={getattr(self, f'{split}_fraction')}), fewer than "
                    f"data.horizon={self.horizon}, so no window's targets fit in it. Raise "
                    f"data.{split}_fraction or lower data.horizon."
                )
        return bounds

    def _check_columns(self, frame: pd.DataFrame) -> None:
        columns = [str(c) for c in frame.columns]
        shown = ", ".join(columns)
        named = [("data.target", self.target), *(("data.features", f) for f in self.features)]
        if self.time_column is not None:
            named.append(("data.time_column", self.time_column))
        for key, name in named:
            if name not in columns:
                raise ConfigError(
                    f"{key} '{name}' is not a column of {self.source}. Columns: {shown}.{did_you_mean(name, columns)}"
                )
        for name in self.features:
            if name == self.target:
                raise ConfigError(
                    f"data.features names '{name}', which is data.target: the target's past is always an "
                    f"input already (the first feature of each step). Remove it from data.features."
                )
            if name == self.time_column:
                raise ConfigError(
                    f"data.features names '{name}', which is data.time_column. Remove it from data.features."
                )
        if self.target == self.time_column:
            raise ConfigError(f"data.target and data.time_column are both '{self.target}'; they must differ.")
        if len(set(self.features)) != len(self.features):
            raise ConfigError(f"data.features names a column twice: {', '.join(self.features)}.")

    def _time_of(self, frame: pd.DataFrame) -> np.ndarray:
        """The time column (numbers, or dates parsed to datetime64), or the row positions without one."""
        if self.time_column is None:
            return np.arange(len(frame), dtype=np.int64)
        column = frame[self.time_column]
        key = f"data.time_column '{self.time_column}' of {self.source}"
        try:
            return read_times(column)
        except TimeColumnProblem as problem:
            row = f"data row {problem.position + 1}"
            value = column.iloc[problem.position]
            raise ConfigError({
                "missing": f"{key} has no value in {row}: every row needs its time.",
                "unparsed": f"{key} holds '{value}' in {row}, which is neither a number nor a date. Use dates such as "
                "2024-01-31 (or numbers such as years), or data.time_column=null to keep the rows in file order.",
                "repeated": f"{key} repeats the time {value} ({row}): a series has one row per time. Keep one row "
                "per time, or split the table into one series per file.",
            }[problem.kind]) from None

    # -- what the rest of a run asks for

    def baselines(self, split: str = "test") -> dict[str, dict[str, float]]:
        """Naive and (with a season) seasonal-naive forecasts scored on the split's windows in the
        original units: {"naive": {"test/mae", "test/rmse", "test/mape", "test/mase"}, ...}."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got '{split}'")
        series = self._prepare()
        target = series.values[:, 0]
        origins = series.origins[split]
        _, truth = make_windows(series.values, target, origins, self.lookback, self.horizon)
        forecasts = {"naive": naive_forecast(target, origins, self.horizon)}
        if self.season is not None:
            forecasts["seasonal_naive"] = seasonal_naive_forecast(target, origins, self.horizon, self.season)
        return {
            name: forecast_errors(prediction, truth, series.naive_scale, prefix=split)
            for name, prediction in forecasts.items()
        }

    def test_series(self, split: str = "test") -> ForecastSeries:
        """The part's timestamps, true target values (original units) and window target positions."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got '{split}'")
        series = self._prepare()
        start, end = series.bounds[split]
        origins = series.origins[split]
        return ForecastSeries(
            name=self.target,
            time=series.time[start:end].copy(),
            values=series.values[start:end, 0].copy(),
            targets=origins[:, None] - start + np.arange(self.horizon),
            start=start,
        )

    def save_preprocessing(self, directory: Path) -> None:
        """Write series.json: the columns, window settings and training-part scaler, so a forecast
        can be made from raw values later the same way."""
        series = self._prepare()
        description = {
            "columns": self.columns,
            "target": self.target,
            "time_column": self.time_column,
            "lookback": self.lookback,
            "horizon": self.horizon,
            "season": self.season,
            "scaler": {
                "kind": "standard",
                "mean": {c: float(v) for c, v in zip(self.columns, series.mean)},
                "std": {c: float(v) for c, v in zip(self.columns, series.std)},
            },
            "naive_scale": series.naive_scale,
            "steps": len(series.values),
            "parts": {split: list(bound) for split, bound in series.bounds.items()},
        }
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "series.json").write_text(json.dumps(description, indent=2) + "\n")


@dataclass(frozen=True)
class _Prepared:
    time: np.ndarray  # (T,)
    values: np.ndarray  # (T, F) original units, gaps filled
    scaled: np.ndarray  # (T, F) standardized with the training part's statistics
    mean: np.ndarray  # (F,)
    std: np.ndarray  # (F,)
    bounds: dict[str, tuple[int, int]]
    origins: dict[str, np.ndarray]
    naive_scale: float


def _is_whole(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


class _BundledSeries(SeriesDataModule):
    path: Path

    @property
    def source(self) -> str:
        return f"the bundled '{self.path.name}'"

    def read_frame(self) -> pd.DataFrame:
        return pd.read_csv(self.path)


class Co2DataModule(_BundledSeries):
    """Weekly CO2 at Mauna Loa, March 1958 to December 2001 (2,284 weeks, 59 of them missing and
    interpolated), ppm; statsmodels' `co2` data set, bundled. A year is 52 weeks."""

    path = CO2_CSV
    target = "co2"
    features: Sequence[str] = ()
    time_column = "date"

    def __init__(self, lookback: int = 104, horizon: int = 12, season: int | None = 52, **options) -> None:
        super().__init__(lookback=lookback, horizon=horizon, season=season, **options)


class SunspotsDataModule(_BundledSeries):
    """Yearly sunspot activity 1700 to 2008 (309 years); statsmodels' `sunspots` data set, bundled.
    The solar cycle is about 11 years."""

    path = SUNSPOTS_CSV
    target = "SUNACTIVITY"
    features: Sequence[str] = ()
    time_column = "YEAR"

    def __init__(self, lookback: int = 33, horizon: int = 3, season: int | None = 11, **options) -> None:
        super().__init__(lookback=lookback, horizon=horizon, season=season, **options)


class SeriesCSVDataModule(SeriesDataModule):
    """The user's own series: one CSV/TSV/Parquet table, a row per time step, a column to forecast."""

    def __init__(
        self,
        path: str | None = None,
        target: str | None = None,
        time_column: str | None = None,
        features: str | Sequence[str] | None = None,
        **options,
    ) -> None:
        super().__init__(**options)
        if path is None:
            raise ConfigError(
                "data.path is not set: point it at your series, a CSV with one row per time step, e.g. "
                "`dlrun train data=series_csv data.path=sales.csv data.target=sales data.time_column=date`."
            )
        self.path = Path(str(path)).expanduser()
        if target is None:
            raise ConfigError(
                f"data.target is not set: name the column of '{self.path}' to forecast, e.g. "
                f"`dlrun train data=series_csv data.path={path} data.target=sales`."
            )
        self.target = str(target)
        self.time_column = None if time_column is None else str(time_column)
        if features is None:
            self.features = []
        elif isinstance(features, str):
            self.features = [features]
        else:
            self.features = [str(f) for f in features]

    @property
    def source(self) -> str:
        return f"'{self.path}' (data.path)"

    def read_frame(self) -> pd.DataFrame:
        return read_table(self.path)


class TimeColumnProblem(Exception):
    """What is wrong with a time column (`kind`: missing, unparsed or repeated) and at which row position."""

    def __init__(self, kind: str, position: int) -> None:
        super().__init__(kind, position)
        self.kind, self.position = kind, position


def read_times(column: pd.Series) -> np.ndarray:
    """A time column as numbers, or as dates parsed to datetime64 (UTC without a zone): what training
    and `dlrun predict` both read. Raises TimeColumnProblem for an empty cell, a value that is neither
    a number nor a date, or a time that repeats."""
    if column.isna().any():
        raise TimeColumnProblem("missing", int(np.flatnonzero(column.isna().to_numpy())[0]))
    if is_numeric_dtype(column) and column.dtype != bool:
        time = column.to_numpy()
    else:
        parsed = pd.to_datetime(column, errors="coerce", format="mixed")
        if parsed.isna().any():
            raise TimeColumnProblem("unparsed", int(np.flatnonzero(parsed.isna().to_numpy())[0]))
        if parsed.dt.tz is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        time = parsed.to_numpy(dtype="datetime64[ns]")
    repeated = pd.Series(time).duplicated()
    if repeated.any():
        raise TimeColumnProblem("repeated", int(np.flatnonzero(repeated.to_numpy())[0]))
    return time
