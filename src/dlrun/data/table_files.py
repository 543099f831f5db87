"""Reading a table file (data.path of data=csv, series_csv, text_csv; INPUT of `dlrun predict`): CSV,
TSV, Parquet by extension; and reading its columns as numbers.

`parse_table` and `numeric_column` are what training and `dlrun predict` share, so the two read a
table alike; they raise UnreadableTable and NotANumber for each caller to word its own error (training
names data.path, `dlrun predict` names INPUT and what the run was trained on).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from dlrun.checks import check_exists
from dlrun.errors import ConfigError

FORMATS = {".csv": "CSV", ".tsv": "TSV", ".parquet": "Parquet", ".pq": "Parquet"}
# pandas decompresses these by extension, so `table.csv.gz` reads like `table.csv`.
COMPRESSIONS = (".gz", ".bz2", ".zip", ".xz", ".zst")


class UnreadableTable(Exception):
    """pandas could not parse a table file; the message is its reason, on one line."""


class NotANumber(Exception):
    """A value that is neither a number nor missing: its column, its row position (0-based) and itself."""

    def __init__(self, column: str, position: int, value: object) -> None:
        super().__init__(column, position, value)
        self.column, self.position, self.value = column, position, value


def read_table(path: Path) -> pd.DataFrame:
    """The table at data.path, read by its extension, with string column names and at least one row."""
    kind = _format_of(path)
    check_exists(path, "data.path", "Point data.path at your CSV or Parquet file.")
    if not path.is_file() and kind != "Parquet":  # a Parquet data set may be a folder of parts
        raise ConfigError(f"data.path '{path}' is a folder; point it at a CSV or Parquet file.")
    try:
        table = parse_table(path, kind, ConfigError)
    except UnreadableTable as e:
        layout = "" if kind == "Parquet" else " with a header line naming the columns"
        raise ConfigError(
            f"Could not read '{path}' (data.path) as {kind}: {e}. Check that it is a {kind} file"
            f"{layout}, or rename it to the extension of its format."
        ) from None
    if table.empty:
        raise ConfigError(
            f"The table '{path}' (data.path) is empty: it needs a header line naming the columns and "
            f"rows of examples under it."
        )
    return table


def parse_table(source: str | Path | IO[str], kind: str, error: type[Exception]) -> pd.DataFrame:
    """The table in `source` (a path, or an open text file such as stdin) read as `kind` (CSV, TSV or
    Parquet, see table_format), with string column names; an empty frame for an empty file. Raises
    UnreadableTable when pandas cannot parse it, and `error` when reading Parquet needs pyarrow."""
    try:
        if kind == "Parquet":
            table = pd.read_parquet(source)
        else:
            table = pd.read_csv(source, sep="\t" if kind == "TSV" else ",")
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except ImportError as e:
        raise error(f"Reading '{source}' as Parquet needs pyarrow: pip install pyarrow ({e}).") from None
    except (ValueError, OSError) as e:  # a UnicodeDecodeError is a ValueError
        raise UnreadableTable(" ".join(str(e).split())) from None
    table.columns = [str(c) for c in table.columns]
    # Rows are numbered by position in messages, whatever index a Parquet file stored.
    return table.reset_index(drop=True)


def numeric_column(table: pd.DataFrame, column: str) -> np.ndarray:
    """A column as float64, missing values as NaN; numbers written as text are parsed. Raises
    NotANumber for the first value that is neither a number nor missing."""
    values = table[column]
    if not is_numeric_dtype(values):  # bools count as numbers: 1.0 and 0.0
        parsed = pd.to_numeric(values, errors="coerce")
        bad = values.notna() & parsed.isna()
        if bad.any():
            position = int(np.flatnonzero(bad.to_numpy())[0])
            raise NotANumber(column, position, values.iloc[position])
        values = parsed
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def numeric_matrix(table: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """The columns as a (rows, columns) float64 array by numeric_column; NotANumber for the first
    bad value, checking the columns in order."""
    if not columns:
        return np.zeros((len(table), 0))
    return np.stack([numeric_column(table, column) for column in columns], axis=1)


def table_format(path: Path) -> str | None:
    """CSV, TSV or Parquet by the name's extension (a compressed CSV/TSV too); None for any other."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes.pop()
    return FORMATS.get(suffixes[-1]) if suffixes else None


def _format_of(path: Path) -> str:
    kind = table_format(path)
    if kind is None:
        raise ConfigError(
            f"data.path '{path}' does not end in a table format dlrun reads: {', '.join(FORMATS)} "
            f"(CSV and TSV may also be compressed: {', '.join(COMPRESSIONS)})."
        )
    return kind
