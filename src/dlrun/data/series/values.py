"""A series' value columns as a float array: numbers read from a table, the observed span, gaps filled.

Gaps (missing values) inside the series are filled by linear interpolation between their neighbours
(by position, so one step counts as one step whatever the timestamps say); rows missing a value at the
very start or end are dropped, since filling them would mean inventing values outside what was seen.
Interpolated values count as truth for the metrics and baselines like observed ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from dlrun.data.table_files import NotANumber, numeric_matrix
from dlrun.errors import ConfigError


def numeric_values(frame: pd.DataFrame, columns: Sequence[str], source: str) -> np.ndarray:
    """The columns as a (rows, columns) float64 array, missing values as NaN; a value that is
    neither a number nor missing is an error naming its column and row."""
    try:
        return numeric_matrix(frame, columns)
    except NotANumber as problem:
        raise ConfigError(
            f"Column '{problem.column}' of {source} holds a value that is not a number: "
            f"'{problem.value}' in data row {problem.position + 1} (not counting the header line). "
            f"A series column needs numbers; leave a missing value empty (it is interpolated), or "
            f"leave the column out of data.features."
        ) from None


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
