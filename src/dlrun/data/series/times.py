"""A series' time column read as numbers or dates (read_times), and what can be wrong with it
(TimeColumnProblem): what training and `dlrun predict` both read, so the two agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype


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
