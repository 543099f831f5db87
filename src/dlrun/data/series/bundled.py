"""The series that ship with dlrun: weekly CO2 at Mauna Loa and yearly sunspots (data/files/*.csv)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from dlrun.data.series.module import SeriesDataModule

# The bundled files live in dlrun/data/files, beside this package.
FILES = Path(__file__).parents[1] / "files"
CO2_CSV = FILES / "co2.csv"
SUNSPOTS_CSV = FILES / "sunspots.csv"


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
