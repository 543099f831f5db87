"""SeriesDataModule: a series read by a subclass, trimmed, gap-filled, split by time, scaled on the
training part and served as windows; also its baselines, test part and saved preprocessing.

Every value column (the target, then any extra `features`) is standardized with the mean and
standard deviation of the training part only. The windows' inputs are (N, lookback, F) float32,
their targets (N, horizon) float32 of the standardized target; the spec's target_mean/target_std
turn them back into the original units.
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

from dlrun.checks import check_number
from dlrun.data.in_memory import SPLITS, InMemoryDataModule
from dlrun.data.loader import Batch
from dlrun.data.series.baselines import forecast_errors, naive_forecast, naive_scale, seasonal_naive_forecast
from dlrun.data.series.forecast_series import ForecastSeries
from dlrun.data.series.times import TimeColumnProblem, read_times
from dlrun.data.series.values import interpolate_gaps, numeric_values, observed_span
from dlrun.data.series.windows import make_windows, split_bounds, window_origins
from dlrun.data.spec import DataSpec
from dlrun.errors import ConfigError, did_you_mean

log = logging.getLogger(__name__)


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
            check_number(
                f"data.{key}",
                value,
                at_least=1,
                whole=True,
                unit="steps",
                hint="(data.lookback steps of the past predict the next data.horizon steps.)",
            )
        check_number(
            "data.season",
            season,
            at_least=1,
            whole=True,
            unit="steps",
            meaning="the length of the seasonal cycle",
            null_means="for a series without one",
        )
        for key, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            check_number(f"data.{key}", fraction, above=0, below=1)
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
                first,
                len(values) - last,
                self.source,
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
                "seasonal-naive" if self.season else "naive",
                self.source,
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
            raise ConfigError(
                {
                    "missing": f"{key} has no value in {row}: every row needs its time.",
                    "unparsed": f"{key} holds '{value}' in {row}, which is neither a number nor a date. Use dates such as "
                    "2024-01-31 (or numbers such as years), or data.time_column=null to keep the rows in file order.",
                    "repeated": f"{key} repeats the time {value} ({row}): a series has one row per time. Keep one row "
                    "per time, or split the table into one series per file.",
                }[problem.kind]
            ) from None

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
