"""Reading INPUT: a table (CSV, TSV, Parquet), lines of text, or image files; `-` is stdin."""

from __future__ import annotations

import glob
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dlrun import checks
from dlrun.data import table_files
from dlrun.data.table_files import NotANumber, UnreadableTable
from dlrun.errors import DlrunError

STDIN = "-"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
GLOB_CHARACTERS = "*?["


def table_format(source: str) -> str | None:
    """CSV, TSV or Parquet by the name's extension (a compressed CSV/TSV too); stdin is CSV; None
    for any other name."""
    if source == STDIN:
        return "CSV"
    return table_files.table_format(Path(source))


def is_image_name(source: str) -> bool:
    return Path(source).suffix.lower() in IMAGE_SUFFIXES


def describe(source: str) -> str:
    return "stdin" if source == STDIN else f"'{source}'"


def row_name(position: int, source: str) -> str:
    """How messages name a row of a table (0-based position)."""
    if table_format(source) == "Parquet":
        return f"row {position + 1}"
    return f"data row {position + 1} (not counting the header line)"


def check_exists(source: str) -> None:
    """INPUT must be stdin, an existing path, or a glob pattern (checked by the image reader)."""
    if source != STDIN and not _is_pattern(source):
        checks.check_exists(source, "INPUT", error=DlrunError)


def read_table(source: str, expected: str) -> pd.DataFrame:
    """The table at `source` with string column names; `expected` says what the run needs in it."""
    kind = table_format(source)
    if kind is None:
        raise DlrunError(
            f"INPUT '{source}' is not a table dlrun reads: this run predicts from {expected}, in a CSV, TSV or "
            f"Parquet file ({', '.join(table_files.FORMATS)}; CSV/TSV may be compressed), or - for a CSV on stdin."
        )
    if source != STDIN and not Path(source).is_file() and kind != "Parquet":
        raise DlrunError(
            f"INPUT '{source}' is a folder; this run predicts from {expected}, in one CSV or Parquet file."
        )
    try:
        table = table_files.parse_table(sys.stdin if source == STDIN else source, kind, DlrunError)
    except UnreadableTable as e:
        raise DlrunError(
            f"Could not read {describe(source)} as {kind}: {e}. This run predicts from {expected}."
        ) from None
    if table.empty:
        raise DlrunError(
            f"The table {describe(source)} is empty: it needs a header line and at least one row of {expected}."
        )
    return table


def require_columns(table: pd.DataFrame, columns: list[str], source: str, what: str) -> None:
    """Every one of `columns` must be in the table: the first missing one is named."""
    from dlrun.errors import did_you_mean

    present = list(table.columns)
    for column in columns:
        if column not in present:
            raise DlrunError(
                f"INPUT {describe(source)} has no column '{column}', one of the {what} this run was trained on "
                f"({', '.join(columns)}). Its columns: {', '.join(present)}.{did_you_mean(column, present)}"
            )


def numeric_matrix(table: pd.DataFrame, columns: list[str], source: str) -> np.ndarray:
    """The columns as a (rows, columns) float64 array, missing values as NaN, read as training read
    them; a value that is not a number is an error."""
    try:
        return table_files.numeric_matrix(table, columns)
    except NotANumber as problem:
        raise DlrunError(
            f"Column '{problem.column}' of {describe(source)} holds '{problem.value}' in "
            f"{row_name(problem.position, source)}, which is not a number; the run read this column as numbers."
        ) from None


def read_lines(source: str, what: str) -> list[str]:
    """The non-blank lines of a UTF-8 text file, or of stdin."""
    if source == STDIN:
        text = sys.stdin.read()
    else:
        path = Path(source)
        if not path.is_file():
            raise DlrunError(f"INPUT '{source}' is a folder; give a text file with {what}, one per line.")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise DlrunError(
                f"INPUT '{source}' is not a UTF-8 text file; this run predicts from {what}, one per line (or a "
                f"CSV with --column NAME)."
            ) from None
        except OSError as e:
            raise DlrunError(f"Could not read INPUT '{source}': {' '.join(str(e).split())}.") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise DlrunError(f"INPUT {describe(source)} holds no {what}: every line is blank.")
    return lines


@dataclass(frozen=True)
class ImageSource:
    """One image to read: its name for the output, and a path or the bytes from stdin."""

    name: str
    path: Path | None = None
    data: bytes | None = None

    def open(self):
        return io.BytesIO(self.data) if self.data is not None else self.path


def image_sources(source: str) -> list[ImageSource]:
    """The images INPUT names: one file, every PNG/JPEG under a folder (hidden files left out), the
    files a glob pattern matches, or one image's bytes on stdin; in sorted order."""
    if source == STDIN:
        return [ImageSource(STDIN, data=sys.stdin.buffer.read())]
    return [ImageSource(name, path=path) for name, path in input_files(source, IMAGE_SUFFIXES, "images")]


def input_files(source: str, suffixes: tuple[str, ...], noun: str) -> list[tuple[str, Path]]:
    """(name for the output, path) of the files INPUT names, other than stdin: one file (named as
    given), every file with one of `suffixes` under a folder (hidden files and folders left out), or
    the files a glob pattern matches; sorted. `noun` names the files in the error for an empty folder."""
    path = Path(source)
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.suffix.lower() in suffixes
            and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if not files:
            raise DlrunError(f"The folder '{source}' holds no {noun} ({', '.join(suffixes)}).")
    elif path.is_file():
        return [(source, path)]
    elif _is_pattern(source):
        files = sorted(Path(p) for p in glob.glob(source, recursive=True) if Path(p).is_file())
        if not files:
            raise DlrunError(f"The pattern '{source}' matches no files.")
    else:
        raise checks.missing_path("INPUT", source, error=DlrunError)
    return [(str(p), p) for p in files]


def _is_pattern(source: str) -> bool:
    """Whether INPUT is a glob pattern rather than one path."""
    return any(c in source for c in GLOB_CHARACTERS)
