"""Train/validation/test splits and feature scaling fitted on the training split only."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from dlrun.errors import ConfigError, unknown_choice

SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler}


def split_indices(
    targets: np.ndarray,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    stratify: bool,
) -> dict[str, np.ndarray]:
    """Disjoint index sets 'train', 'val', 'test'; stratified so each keeps the class proportions."""
    for name, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 < fraction < 1.0:
            raise ConfigError(f"data.{name} must be between 0 and 1 (exclusive), got {fraction}.")
    if val_fraction + test_fraction >= 1.0:
        raise ConfigError(
            f"data.val_fraction + data.test_fraction must leave examples for training; "
            f"got {val_fraction} + {test_fraction} >= 1."
        )
    everything = np.arange(len(targets))
    try:
        rest, test = train_test_split(
            everything, test_size=test_fraction, random_state=seed, stratify=targets if stratify else None
        )
        train, val = train_test_split(
            rest,
            test_size=val_fraction / (1.0 - test_fraction),
            random_state=seed,
            stratify=targets[rest] if stratify else None,
        )
    except ValueError as e:  # e.g. a class with too few examples to appear in every split
        raise ConfigError(f"Could not split the data with these fractions: {e}") from None
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def fit_scaler(kind: str | None, train_features: np.ndarray):
    """A scaler fitted on the training features, or None for no scaling."""
    if kind is None:
        return None
    if kind not in SCALERS:
        raise unknown_choice("data.scaling", kind, [*SCALERS, "null"])
    return SCALERS[kind]().fit(train_features)
