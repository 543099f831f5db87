"""Writing predictions: CSV (the default) or JSON Lines, to a file or to stdout."""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dlrun.errors import DlrunError

FORMATS = ("csv", "jsonl")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
PROBABILITY_PREFIX = "prob_"


@dataclass
class Predictions:
    """One output row per input row (per forecast step for a series): `rows` holds what identifies
    it (the input's own columns, a path, a text) and `prediction`; `probabilities` one column per
    class, for classification runs."""

    rows: pd.DataFrame
    probabilities: pd.DataFrame | None = None


def with_inputs(
    inputs: pd.DataFrame, prediction: list[object], probabilities: np.ndarray | None, classes
) -> Predictions:
    """The input's columns (renamed `input_<name>` where they would clash with the outputs), then the
    prediction, and the class probabilities."""
    ours = {"prediction", *(f"{PROBABILITY_PREFIX}{c}" for c in classes)}
    rows = inputs.rename(columns={c: f"input_{c}" for c in inputs.columns if c in ours}).reset_index(drop=True)
    rows = rows.assign(prediction=prediction)
    table = None if probabilities is None else pd.DataFrame(probabilities, columns=[str(c) for c in classes])
    return Predictions(rows, table)


def output_format(output: str | None, requested: str | None) -> str:
    """--format when given, else by --output's suffix (.jsonl: JSON Lines), else CSV."""
    if requested is not None:
        requested = requested.lower()
        if requested not in FORMATS:
            raise DlrunError(f"--format must be csv or jsonl, got '{requested}'.")
        return requested
    if output and output != "-" and Path(output).suffix.lower() in JSONL_SUFFIXES:
        return "jsonl"
    return "csv"


def check_output(output: str | None, force: bool) -> None:
    """Refused before any work: an existing --output without --force, or one in a missing folder."""
    if output in (None, "-"):
        return
    path = Path(output)
    if path.is_dir():
        raise DlrunError(
            f"--output '{output}' is a folder; name the file to write, e.g. {Path(output) / 'predictions.csv'}."
        )
    if path.exists() and not force:
        raise DlrunError(f"--output '{output}' exists already; dlrun does not overwrite it unless you add --force.")
    if not path.parent.is_dir():
        raise DlrunError(f"The folder of --output '{output}' ('{path.parent}') does not exist; create it first.")


def render(predictions: Predictions, fmt: str) -> str:
    if fmt == "csv":
        table = predictions.rows
        if predictions.probabilities is not None:
            probabilities = predictions.probabilities.add_prefix(PROBABILITY_PREFIX)
            table = pd.concat([table, probabilities], axis=1)
        return table.to_csv(index=False, lineterminator="\n")
    lines = []
    columns = list(predictions.rows.columns)
    probabilities = None if predictions.probabilities is None else predictions.probabilities.to_numpy()
    classes = [] if predictions.probabilities is None else list(predictions.probabilities.columns)
    for i, row in enumerate(predictions.rows.itertuples(index=False, name=None)):
        record = {column: _json_value(value) for column, value in zip(columns, row)}
        if probabilities is not None:
            record["probabilities"] = {c: float(p) for c, p in zip(classes, probabilities[i])}
        lines.append(json.dumps(record, ensure_ascii=False, allow_nan=False))
    return "".join(line + "\n" for line in lines)


def write(predictions: Predictions, output: str | None, fmt: str, force: bool) -> None:
    """To stdout (no --output, or -), or to the file: written whole, then moved into place."""
    text = render(predictions, fmt)
    if output in (None, "-"):
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    check_output(output, force)  # again: the work may have taken a while
    path = Path(output)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # as a file opened for writing would be, not mkstemp's 0600
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _json_value(value: object) -> object:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return str(value)
