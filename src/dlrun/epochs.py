"""Epoch numbers as people read them: the first epoch is epoch 1, everywhere a user reads one.

Lightning counts epochs from 0 (`trainer.current_epoch`, a checkpoint's "epoch"), and dlrun's own
state (the metric history kept in checkpoints, early stopping's best epoch, resuming) keeps that
count. What a user reads (the progress bar and epoch lines, the summary, results.json, the weights'
metadata, TensorBoard's `epoch`) is converted here, where it is written or printed, so the rule
lives in one place.

results.json and the safetensors metadata written with 1-based epochs say so with
`epoch_base: 1`; records written before it have 0-based epochs and no such field, and
`recorded_epoch` reads either kind as a user's epoch number.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import overload

# The number of the first epoch in everything a user reads.
EPOCH_BASE = 1
# The field of a record (results.json, weights metadata) that says how its epochs are numbered.
EPOCH_BASE_FIELD = "epoch_base"
# Records without EPOCH_BASE_FIELD were written with Lightning's numbering.
OLD_RECORDS_BASE = 0


@overload
def user_epoch(index: int) -> int: ...
@overload
def user_epoch(index: None) -> None: ...
def user_epoch(index: int | None) -> int | None:
    """The number a user reads for Lightning's 0-based epoch `index` (None stays None)."""
    return None if index is None else int(index) + EPOCH_BASE


def history_for_users(rows: list[dict[str, float]]) -> list[dict[str, float]]:
    """Metric history rows (MetricHistory's, 0-based "epoch") as results.json records them."""
    return [{**row, "epoch": user_epoch(int(row["epoch"]))} if "epoch" in row else dict(row) for row in rows]


def recorded_epoch(record: Mapping[str, object], value: int | float | str | None) -> int | None:
    """An epoch number read back from `record` (a results.json object or weights metadata, whose
    values may be strings), as a user's epoch number whichever numbering the record was written with."""
    if value is None or value == "":
        return None
    base = int(str(record.get(EPOCH_BASE_FIELD, OLD_RECORDS_BASE)))
    return int(float(value)) - base + EPOCH_BASE
