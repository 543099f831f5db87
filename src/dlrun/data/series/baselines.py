"""Forecasts that need no training (naive, seasonal naive), the MASE scale, and the errors they score.

`SeriesDataModule.baselines()` scores two forecasts on the same test windows, in the original units,
with the formulas the forecasting task's metrics use:
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

import numpy as np

from dlrun.errors import ConfigError

# torchmetrics' MeanAbsolutePercentageError clamps |target| to at least this before dividing.
MAPE_EPSILON = 1.17e-06


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
