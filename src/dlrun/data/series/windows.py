"""The chronological split of a series and its windows of `lookback` steps before `horizon` targets.

The series is split by time, never shuffled across the split: the first part trains, the next
validates, the last tests. A window is named by its *origin* t, the position of its first target:
its inputs are the steps t-lookback .. t-1 and its targets t .. t+horizon-1. Each window belongs to
the part that holds all of its targets, and no window's targets cross a boundary. A validation or
test window's inputs may reach back into the earlier parts: at forecast time the past is known, and
this way the first steps of the validation and test parts are forecast too. Every validation target
therefore lies after every training target, and every test target after every validation target.
"""

from __future__ import annotations

import numpy as np


def split_bounds(length: int, val_fraction: float, test_fraction: float) -> dict[str, tuple[int, int]]:
    """[start, end) of the train, val and test parts of a series of `length` steps, in time order."""
    test = int(round(length * test_fraction))
    val = int(round(length * val_fraction))
    train = length - val - test
    return {"train": (0, train), "val": (train, train + val), "test": (train + val, length)}


def window_origins(start: int, end: int, lookback: int, horizon: int) -> np.ndarray:
    """The origins (first target positions) of every window whose targets lie in [start, end) and
    whose inputs start at position 0 or later; stride 1, in time order."""
    first = max(start, lookback)
    return np.arange(first, max(end - horizon + 1, first), dtype=np.int64)


def make_windows(
    values: np.ndarray, target: np.ndarray, origins: np.ndarray, lookback: int, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs values[t-lookback:t] (N, lookback, F) and targets target[t:t+horizon] (N, horizon)."""
    origins = np.asarray(origins, dtype=np.int64)
    inputs = values[origins[:, None] + np.arange(-lookback, 0)]
    targets = target[origins[:, None] + np.arange(horizon)]
    return inputs, targets
