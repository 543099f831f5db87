"""SeriesCSVDataModule: the user's own series from one CSV/TSV/Parquet table (data=series_csv)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from dlrun.data.series.module import SeriesDataModule
from dlrun.data.table_files import read_table
from dlrun.errors import ConfigError


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
