"""Users' own tables (CSV or Parquet): one column to predict, the others as features."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from dlrun.choices import check_config_choice
from dlrun.data.in_memory import SplittingDataModule
from dlrun.data.loader import Batch
from dlrun.data.spec import DataSpec, TaskKind
from dlrun.data.table_files import NotANumber, numeric_column, numeric_matrix, read_table, table_format
from dlrun.errors import ConfigError, did_you_mean

log = logging.getLogger(__name__)

TargetKind = Literal["auto", "multiclass", "binary", "regression"]
Encoding = Literal["one_hot", "embedded"]
MissingPolicy = Literal["drop", "mean", "error"]
# An integer target with at most this many distinct values is read as class labels by target_kind=auto;
# more distinct integers (counts, years, prices in cents) are more likely a quantity to regress.
MAX_AUTO_CLASSES = 20
# categorical=auto refuses a text column with more distinct values than this and than half the rows.
MAX_AUTO_CATEGORIES = 20


@dataclass(frozen=True)
class TableSpec(DataSpec):
    """DataSpec plus where each input column came from.

    With `categorical_encoding=embedded` the last len(categorical_cardinalities) input columns hold
    integer codes 0..cardinality-1 (as floats), one column per categorical feature, for a model that
    embeds them; the columns before them are the scaled numeric features.
    """

    feature_names: tuple[str, ...] = ()
    categorical_cardinalities: tuple[int, ...] = ()


class TableDataModule(SplittingDataModule):
    """A CSV or Parquet table: features encoded and scaled (fitted on the training split), target
    as class labels or a standardized value."""

    def __init__(
        self,
        path: str | None = None,
        target: str | None = None,
        features: Sequence[str] | None = None,
        categorical: str | Sequence[str] | None = "auto",
        categorical_encoding: Encoding = "one_hot",
        missing: MissingPolicy = "error",
        target_kind: TargetKind = "auto",
        **options,
    ) -> None:
        super().__init__(**options)
        check_config_choice("data.categorical_encoding", categorical_encoding, Encoding)
        check_config_choice("data.missing", missing, MissingPolicy)
        check_config_choice("data.target_kind", target_kind, TargetKind)
        if path is None:
            raise ConfigError(
                "data.path is not set: point it at your CSV or Parquet file, e.g. "
                "`dlrun train data=csv data.path=my_table.csv data.target=label`."
            )
        self.path = Path(str(path)).expanduser()
        self.target = None if target is None else str(target)
        self.features = None if features is None else [str(c) for c in features]
        self.categorical: str | list[str]
        if categorical is None:
            self.categorical = []
        elif isinstance(categorical, str):
            self.categorical = "auto" if categorical == "auto" else [categorical]
        else:
            self.categorical = [str(c) for c in categorical]
        self.categorical_encoding = categorical_encoding
        self.missing = missing
        self.target_kind = target_kind

    def load(self) -> tuple[dict[str, Batch], TableSpec]:
        table = read_table(self.path)
        features, categorical = self._columns(table)
        table = self._handle_missing(table[[*features, self.target]], features)
        target = table[self.target]
        task = self._task_of(target)

        if task == "regression":
            target_values = target.to_numpy(dtype=np.float64)
            class_names: tuple[str, ...] = ()
        else:
            classes = _sorted_values(target)
            target_values = pd.Categorical(target, categories=classes).codes.astype(np.int64)
            class_names = tuple(str(c) for c in classes)
        indices = self.split_positions(target_values, stratify=task != "regression")
        train = indices["train"]
        numeric = [c for c in features if c not in categorical]
        numeric_values = self._numeric_matrix(table, numeric, train)
        scaler = self.fit_scaler(numeric_values[train]) if numeric else None
        if scaler is not None:
            numeric_values = scaler.transform(numeric_values)
        coded, coded_names, cardinalities = self._encode_categorical(table, categorical, train)
        inputs = torch.as_tensor(np.concatenate([numeric_values, coded], axis=1), dtype=torch.float32)

        if task == "regression":
            mean, std = float(target_values[train].mean()), float(target_values[train].std())
            if std == 0.0:
                raise ConfigError(
                    f"Column '{self.target}' of '{self.path}' (data.target) has the same value {mean:g} in "
                    "every training row: there is nothing to regress. Pick another target column."
                )
            targets = torch.as_tensor((target_values - mean) / std, dtype=torch.float32)
        else:
            mean, std = 0.0, 1.0
            targets = torch.as_tensor(target_values)
        spec = TableSpec(
            task,
            (inputs.shape[1],),
            num_classes=len(class_names),
            class_names=class_names,
            target_mean=mean,
            target_std=std,
            feature_names=(*numeric, *coded_names),
            categorical_cardinalities=cardinalities if self.categorical_encoding == "embedded" else (),
        )
        splits = {
            split: {"inputs": inputs[torch.as_tensor(idx)], "targets": targets[torch.as_tensor(idx)]}
            for split, idx in indices.items()
        }
        return splits, spec

    # -- what `dlrun predict` needs to repeat load() on new rows (preprocessing.json)

    def split_positions(self, targets: np.ndarray, stratify: bool) -> dict[str, np.ndarray]:
        """The split load() makes; its training rows are kept for save_preprocessing."""
        positions = super().split_positions(targets, stratify)
        self._fitted_train_rows = positions["train"]
        return positions

    def save_preprocessing(self, directory: Path) -> None:
        """Write preprocessing.json: the feature columns in order (numeric, then categorical), the
        numeric scaler and training-split means, each category column's values in code order and its
        most frequent training value, the missing-value policy, the classes or the target scaling."""
        from dlrun.data.preprocessing_file import scaler_to_json, write_preprocessing

        spec = self.spec  # loads, so the split and the scaler exist
        table = read_table(self.path)
        features, categorical = self._columns(table)
        table = self._handle_missing(table[[*features, self.target]], features)
        train = self._fitted_train_rows
        numeric = [c for c in features if c not in categorical]
        values = numeric_matrix(table, numeric)
        seen = (~np.isnan(values[train])).sum(axis=0)
        # The same formula as _numeric_matrix, so a gap filled at prediction gets the training value.
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.nansum(values[train], axis=0) / seen
        categories, most_frequent = {}, {}
        for column in categorical:
            categories[column] = _sorted_values(table[column])
            mode = table[column].iloc[train].mode()
            most_frequent[column] = None if mode.empty else mode.iloc[0]
        write_preprocessing(
            directory,
            "table",
            type(self).__name__,
            spec,
            features=features,
            target=self.target,
            numeric=numeric,
            numeric_means={c: (float(m) if n else None) for c, m, n in zip(numeric, means, seen)},
            scaler=scaler_to_json(self.fitted_scaler) if numeric else None,
            categorical=categorical,
            categorical_encoding=self.categorical_encoding,
            categories=categories,
            most_frequent=most_frequent,
            missing=self.missing,
            task=spec.task,
            class_names=list(spec.class_names),
            target_mean=spec.target_mean,
            target_std=spec.target_std,
        )

    def _columns(self, table: pd.DataFrame) -> tuple[list[str], list[str]]:
        """The feature columns and which of them are categorical, checked against the table."""
        columns = list(table.columns)
        shown = ", ".join(columns)
        if self.target is None:
            raise ConfigError(
                f"data.target is not set: name the column of '{self.path}' to predict, e.g. "
                f"data.target={columns[-1]}. Columns: {shown}."
            )
        if self.target not in columns:
            raise ConfigError(
                f"data.target '{self.target}' is not a column of '{self.path}'. Columns: {shown}."
                f"{did_you_mean(self.target, columns)}"
            )
        features = [c for c in columns if c != self.target] if self.features is None else self.features
        for key, names in (("data.features", features), ("data.categorical", self.categorical)):
            for name in names if isinstance(names, list) else []:
                if name not in columns:
                    raise ConfigError(
                        f"{key} names '{name}', which is not a column of '{self.path}'. Columns: {shown}."
                        f"{did_you_mean(name, columns)}"
                    )
                if name == self.target:
                    raise ConfigError(
                        f"{key} names '{name}', which is data.target, the column to predict: a model that "
                        f"sees its own answer learns nothing. Remove it from {key}."
                    )
        if not features:
            raise ConfigError(f"data.features is empty: name at least one column of '{self.path}'. Columns: {shown}.")
        if self.categorical == "auto":
            categorical = [c for c in features if not is_numeric_dtype(table[c])]
            for column in categorical:
                self._check_not_free_text(table[column])
        else:
            for name in self.categorical:
                if name not in features:
                    raise ConfigError(
                        f"data.categorical names '{name}', which is not among data.features "
                        f"({', '.join(features)}). Add it to data.features, or remove it from data.categorical."
                    )
            categorical = [c for c in features if c in self.categorical]
        for column in features:
            if column in categorical:
                continue
            try:
                numeric_column(table, column)
            except NotANumber as problem:
                raise ConfigError(
                    f"Column '{column}' of '{self.path}' is a numeric feature but holds non-numeric values "
                    f"such as '{problem.value}' ({self._row(problem.position)}). Add it to data.categorical (e.g. "
                    f"data.categorical=[{column}]) to encode its values as categories, set "
                    f"data.categorical=auto, or leave it out of data.features."
                ) from None
        if categorical:
            log.info("Categorical features (%s): %s", self.categorical_encoding, ", ".join(categorical))
        return features, categorical

    def _row(self, position: int) -> str:
        header = "" if table_format(self.path) == "Parquet" else ", not counting the header line"
        return f"data row {position + 1}{header}"

    def _check_not_free_text(self, column: pd.Series) -> None:
        """Names, ids, dates and free text are non-numeric too, but as categories they would give
        about one input column per row; auto must not encode them silently."""
        distinct = column.nunique()
        if distinct > MAX_AUTO_CATEGORIES and distinct > len(column) / 2:
            raise ConfigError(
                f"Column '{column.name}' of '{self.path}' holds text with {distinct} different values in "
                f"{len(column)} rows (e.g. '{column.dropna().iloc[0]}'), more like names, ids or dates than "
                f"categories, so data.categorical=auto does not encode it. Leave it out of data.features, "
                f"or list it in data.categorical to encode it anyway."
            )

    def _handle_missing(self, table: pd.DataFrame, features: list[str]) -> pd.DataFrame:
        missing = table.isna()
        if self.missing == "error" and missing.any(axis=None):
            label = missing.any(axis=1).idxmax()
            column = missing.loc[label].idxmax()
            raise ConfigError(
                f"Column '{column}' of '{self.path}' has a missing value in {self._row(label)}, and "
                f"data.missing=error. Fill it in, or set data.missing=drop to drop "
                f"rows with a missing value, or data.missing=mean to fill numeric features with their "
                f"training-split mean and categorical ones with their most frequent value."
            )
        # A row without a target can be neither trained on nor scored, whatever `missing` says.
        table = table.dropna(subset=features if self.missing == "drop" else []).dropna(subset=[self.target])
        if table.empty:
            raise ConfigError(
                f"No rows of '{self.path}' are left after dropping those with a missing value "
                f"(data.missing={self.missing}): every row misses data.target '{self.target}' or a feature. "
                f"Use data.missing=mean, or leave the emptiest columns out of data.features."
            )
        return table

    def _task_of(self, target: pd.Series) -> TaskKind:
        classes = target.nunique()
        numeric = is_numeric_dtype(target) and not is_bool_dtype(target)
        if self.target_kind == "auto":
            whole = numeric and bool(np.all(np.mod(target.to_numpy(dtype=np.float64), 1) == 0))
            if numeric and not (whole and classes <= MAX_AUTO_CLASSES):
                return "regression"
            task: TaskKind = "binary" if classes == 2 else "multiclass"
        else:
            task = self.target_kind
        if task == "regression" and not numeric:
            raise ConfigError(
                f"data.target_kind=regression needs a numeric target, but column '{self.target}' of '{self.path}' "
                f"holds values such as '{target.iloc[0]}'. Use data.target_kind=auto or multiclass to predict its classes."
            )
        if task != "regression" and classes < 2:
            raise ConfigError(
                f"Column '{self.target}' of '{self.path}' (data.target) has only one value "
                f"('{target.iloc[0]}'): there is nothing to classify. Pick another target column."
            )
        if task == "binary" and classes != 2:
            sample = ", ".join(str(v) for v in _sorted_values(target)[:5])
            raise ConfigError(
                f"data.target_kind=binary needs exactly 2 classes, but column '{self.target}' of '{self.path}' has "
                f"{classes} ({sample}, ...). Use data.target_kind=multiclass, or auto to choose by itself."
            )
        return task

    def _numeric_matrix(self, table: pd.DataFrame, numeric: list[str], train: np.ndarray) -> np.ndarray:
        values = numeric_matrix(table, numeric)
        gaps = np.isnan(values)
        if not gaps.any():
            return values
        seen = (~gaps[train]).sum(axis=0)
        for column, count in zip(numeric, seen):
            if count == 0:
                raise ConfigError(
                    f"Column '{column}' of '{self.path}' has no values in the training split, so "
                    f"data.missing=mean has no mean to fill it with. Leave it out of data.features."
                )
        means = np.nansum(values[train], axis=0) / seen
        return np.where(gaps, means, values)

    def _encode_categorical(
        self, table: pd.DataFrame, categorical: list[str], train: np.ndarray
    ) -> tuple[np.ndarray, list[str], tuple[int, ...]]:
        """One-hot columns, or one integer-code column per feature; and the names of those columns."""
        blocks, names, cardinalities = [], [], []
        for column in categorical:
            values = table[column]
            # Which values exist is part of the table's schema, not a statistic to fit on the
            # training split: a value seen only in validation still gets its own code.
            categories = _sorted_values(values)
            if values.isna().any():
                most_frequent = values.iloc[train].mode()
                if most_frequent.empty:
                    raise ConfigError(
                        f"Column '{column}' of '{self.path}' has no values in the training split, so "
                        f"data.missing=mean has no most frequent value to fill it with. Leave it out of "
                        f"data.features."
                    )
                values = values.fillna(most_frequent.iloc[0])
            codes = pd.Categorical(values, categories=categories).codes
            cardinalities.append(len(categories))
            if self.categorical_encoding == "one_hot":
                blocks.append(np.eye(len(categories))[codes])
                names += [f"{column}={c}" for c in categories]
            else:
                blocks.append(codes[:, None].astype(np.float64))
                names.append(column)
        if not blocks:
            return np.zeros((len(table), 0)), names, ()
        return np.concatenate(blocks, axis=1), names, tuple(cardinalities)


def _sorted_values(column: pd.Series) -> list:
    """The distinct non-missing values, in their natural order where they have one."""
    values = list(pd.unique(column.dropna()))
    try:
        return sorted(values)
    except TypeError:  # mixed types, e.g. numbers and strings in one column
        return sorted(values, key=str)
