"""ForecastSeries: one part of a series as a forecast plot needs it (times, truth, window targets)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
