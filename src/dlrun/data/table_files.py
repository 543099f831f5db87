"""Reading a table file (data.path of data=csv, series_csv, text_csv): CSV, TSV, Parquet by extension."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dlrun.errors import ConfigError

FORMATS = {".csv": "CSV", ".tsv": "TSV", ".parquet": "Parquet", ".pq": "Parquet"}
# pandas decompresses these by extension, so `table.csv.gz` reads like `table.csv`.
COMPRESSIONS = (".gz", ".bz2", ".zip", ".xz", ".zst")


def read_table(path: Path) -> pd.DataFrame:
    """The table at `path`, read by its extension, with string column names and at least one row."""
    kind = _format_of(path)
    if not path.exists():
        raise ConfigError(
            f"data.path '{path}' does not exist (relative paths start from {Path.cwd()}). Point data.path "
            f"at your CSV or Parquet file."
        )
    if not path.is_file() and kind != "Parquet":  # a Parquet data set may be a folder of parts
        raise ConfigError(f"data.path '{path}' is a folder; point it at a CSV or Parquet file.")
    try:
        if kind == "Parquet":
            table = pd.read_parquet(path)
        else:
            table = pd.read_csv(path, sep="\t" if kind == "TSV" else ",")
    except pd.errors.EmptyDataError:
        table = pd.DataFrame()
    except ImportError as e:
        raise ConfigError(f"Reading '{path}' as Parquet needs pyarrow: pip install pyarrow ({e}).") from None
    except (ValueError, OSError) as e:
        message = " ".join(str(e).split())
        layout = "" if kind == "Parquet" else " with a header line naming the columns"
        raise ConfigError(
            f"Could not read '{path}' (data.path) as {kind}: {message}. Check that it is a {kind} file"
            f"{layout}, or rename it to the extension of its format."
        ) from None
    if table.empty:
        raise ConfigError(
            f"The table '{path}' (data.path) is empty: it needs a header line naming the columns and "
            f"rows of examples under it."
        )
    table.columns = [str(c) for c in table.columns]
    # Rows are numbered by position in messages, whatever index a Parquet file stored.
    return table.reset_index(drop=True)


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
