"""Train/validation/test splits, k-fold cross-validation, and scaling fitted on the training split only."""

from __future__ import annotations

from typing import Literal

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from dlrun.checks import check_number
from dlrun.choices import check_config_choice
from dlrun.errors import ConfigError

# data.scaling: per feature for tables, per channel or pixel for images (see data/image_ops.py).
Scaling = Literal["standard", "minmax"]
SCALERS: dict[Scaling, type[StandardScaler | MinMaxScaler]] = {"standard": StandardScaler, "minmax": MinMaxScaler}


def split_indices(
    targets: np.ndarray,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    stratify: bool,
    folds: int | None = None,
    fold: int = 0,
) -> dict[str, np.ndarray]:
    """Disjoint index sets 'train', 'val', 'test'; stratified so each keeps the class proportions.

    With `folds=K`, validation is fold `fold` of K over everything outside the test split (and
    `val_fraction` is unused). The test split is the one a run without folds gets, so every fold
    and every plain run of a sweep is tested on the same examples.
    """
    check_number("data.test_fraction", test_fraction, above=0, below=1)
    if folds is None:
        check_number("data.val_fraction", val_fraction, above=0, below=1)
        if val_fraction + test_fraction >= 1.0:
            raise ConfigError(
                f"data.val_fraction + data.test_fraction must leave examples for training; "
                f"got {val_fraction} + {test_fraction} >= 1."
            )
    _check_folds(folds, fold)
    targets = np.asarray(targets)
    try:
        rest, test = train_test_split(
            np.arange(len(targets)), test_size=test_fraction, random_state=seed, stratify=targets if stratify else None
        )
    except ValueError as e:  # e.g. a class with too few examples to appear in both
        raise ConfigError(f"Could not split the data with these fractions: {e}") from None
    # val_fraction is of the whole set; the rest is what is left after the test split.
    rest_val_fraction = val_fraction / (1.0 - test_fraction) if folds is None else val_fraction
    inner = split_train_val(targets[rest], rest_val_fraction, seed, stratify, folds, fold)
    return {"train": np.sort(rest[inner["train"]]), "val": np.sort(rest[inner["val"]]), "test": np.sort(test)}


def split_train_val(
    targets: np.ndarray,
    val_fraction: float,
    seed: int,
    stratify: bool,
    folds: int | None = None,
    fold: int = 0,
) -> dict[str, np.ndarray]:
    """Positions 'train' and 'val' for a set whose test split is fixed elsewhere (e.g. a data set's
    official test set): a `val_fraction` of it, or with `folds=K` fold `fold` of K (stratified)."""
    _check_folds(folds, fold)
    targets = np.asarray(targets)
    everything = np.arange(len(targets))
    try:
        if folds is None:
            check_number("data.val_fraction", val_fraction, above=0, below=1)
            train, val = train_test_split(
                everything, test_size=val_fraction, random_state=seed, stratify=targets if stratify else None
            )
        else:
            splitter = (StratifiedKFold if stratify else KFold)(n_splits=folds, shuffle=True, random_state=seed)
            train, val = list(splitter.split(everything, targets))[fold]
    except ValueError as e:  # e.g. a class with too few examples to appear in every split or fold
        raise ConfigError(f"Could not split the data with these fractions and folds: {e}") from None
    return {"train": np.sort(train), "val": np.sort(val)}


def _check_folds(folds: int | None, fold: int) -> None:
    if folds is None:
        if fold != 0:
            # A fold without a fold count would otherwise be silently ignored.
            raise ConfigError(
                f"data.fold={fold} needs data.folds (the number of folds), which is null. "
                f"Set both, e.g. data.folds=5 data.fold={fold}, or leave data.fold at 0."
            )
        return
    check_number("data.folds", folds, at_least=2, whole=True, null_means="for a plain validation split")
    if isinstance(fold, bool) or not isinstance(fold, int | np.integer) or not 0 <= fold < folds:
        raise ConfigError(
            f"data.fold must be one of 0..{folds - 1} with data.folds={folds}, got {fold}. "
            f"Run them all with: dlrun train -m data.folds={folds} data.fold={','.join(map(str, range(folds)))}"
        )


def fit_scaler(kind: Scaling | None, train_features: np.ndarray):
    """A scaler fitted on the training features, or None for no scaling."""
    if kind is None:
        return None
    check_config_choice("data.scaling", kind, Scaling | None)
    return SCALERS[kind]().fit(train_features)
