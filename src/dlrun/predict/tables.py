"""Tables: data=csv runs and the scikit-learn sets (digits from its 64 pixel columns, too).

The rows are encoded as TableDataModule.load / SklearnDataModule.load encoded the training table,
from preprocessing.json alone: numeric features (gaps filled with training means under
data.missing=mean), scaled; then the categorical ones, one-hot or as integer codes.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from dlrun.errors import DlrunError
from dlrun.predict import inputs as read
from dlrun.predict.modules import TableInputs
from dlrun.predict.output import Predictions, with_inputs
from dlrun.predict.run import PredictingRun, classes_or_values, in_batches


def predict_table(run: PredictingRun, source: str) -> Predictions:
    saved = run.saved
    features = list(saved["features"])
    table = read.read_table(source, f"rows with the columns {', '.join(features)}")
    read.require_columns(table, features, source, "feature columns")
    if "numeric" in saved:  # data=csv (a TableDataModule)
        raw = raw_table(saved, table, source)
    else:  # a scikit-learn set: every feature numeric, no gaps in the data set
        raw = read.numeric_matrix(table, features, source)
        _refuse_gaps(raw, features, source, "the scikit-learn data set has none")
    assert run.spec is not None and run.model is not None
    with torch.no_grad():  # the arithmetic is the module that `dlrun export` puts in the graph
        inputs = TableInputs(saved, run.spec.input_shape)(torch.from_numpy(raw))
    prediction, probabilities = classes_or_values(run.spec, in_batches(run.model, inputs))
    return with_inputs(table, prediction, probabilities, run.spec.class_names)


def raw_table(saved: dict, table: pd.DataFrame, source: str) -> np.ndarray:
    """The rows as TableInputs takes them (rows, numeric + categorical) float64, checked: numeric
    values (a gap stays NaN only where data.missing=mean fills it with a training mean), then each
    categorical column's codes (a missing category filled with the most frequent one)."""
    numeric, categorical = list(saved["numeric"]), list(saved["categorical"])
    missing = saved["missing"]
    blocks = []
    if numeric:
        values = read.numeric_matrix(table, numeric, source)
        if missing == "mean":
            for j, column in enumerate(numeric):
                if np.isnan(values[:, j]).any() and saved["numeric_means"].get(column) is None:
                    raise DlrunError(
                        f"Column '{column}' of {read.describe(source)} has a missing value, and the run's "
                        "training split had no values of it to fill it with: fill it in."
                    )
        else:
            _refuse_gaps(values, numeric, source, f"the run was trained with data.missing={missing}")
        blocks.append(values)
    for column in categorical:
        blocks.append(category_codes(saved, table[column], source)[:, None].astype(np.float64))
    if not blocks:
        return np.zeros((len(table), 0))
    return np.concatenate(blocks, axis=1)


def category_codes(saved: dict, column: pd.Series, source: str) -> np.ndarray:
    """Each value's code: its position among the categories the run's table had (pandas matches
    values by equality, so 2 and 2.0 are one category, as in training)."""
    name = str(column.name)
    categories = saved["categories"][name]
    lookup = {_key(c): i for i, c in enumerate(categories)}
    fill = saved["most_frequent"].get(name)
    codes = np.empty(len(column), dtype=np.int64)
    for position, value in enumerate(column.tolist()):
        if _is_missing(value):
            if saved["missing"] != "mean" or fill is None:
                raise DlrunError(
                    f"Column '{name}' of {read.describe(source)} has no value in {read.row_name(position, source)}, "
                    f"and the run was trained with data.missing={saved['missing']}: fill it in."
                )
            value = fill
        code = lookup.get(_key(value))
        if code is None:
            shown = ", ".join(str(c) for c in categories[:20]) + (", ..." if len(categories) > 20 else "")
            raise DlrunError(
                f"Column '{name}' of {read.describe(source)} holds '{value}' in {read.row_name(position, source)}, a "
                f"category the run never saw, so it has no input for it. Its categories: {shown}."
            )
        codes[position] = code
    return codes


def _refuse_gaps(values: np.ndarray, columns: list[str], source: str, why: str) -> None:
    gaps = np.isnan(values)
    if gaps.any():
        row, column = np.argwhere(gaps)[0]
        raise DlrunError(
            f"Column '{columns[column]}' of {read.describe(source)} has no value in {read.row_name(int(row), source)}, "
            f"and {why}: fill it in."
        )


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _key(value: object) -> tuple[str, object]:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", int(value) if float(value).is_integer() else float(value))
    return ("text", str(value))
