"""Weight and gradient histograms for TensorBoard and W&B, binned on the tensors' own device.

SummaryWriter.add_histogram copies the values to the host and bins them with numpy against some 1,500
exponential bucket edges (about 2.5 ms per 100k values on a CPU core); torch.histc bins them where they are in one
pass into equal buckets, and only the bucket counts and four statistics travel, written with
add_histogram_raw.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from dlrun.trackers.sinks import Sinks

BUCKETS = 64


def histogram_parts(tensors: Sequence[Tensor]) -> dict[str, object]:
    """add_histogram_raw's arguments (but tag and step) for the values of `tensors` taken together."""
    values = torch.cat([t.detach().to_dense().flatten() for t in tensors]).float()
    low, high, total, squares = torch.stack([values.min(), values.max(), values.sum(), values.square().sum()]).tolist()
    if not high > low:  # every value the same (a bias that starts at 0): one bucket holds them
        high = low + max(abs(low), 1.0) * 1e-6
    counts = torch.histc(values, bins=BUCKETS, min=low, max=high)
    limits = torch.linspace(low, high, BUCKETS + 1, dtype=torch.float64)[1:]
    return {
        "min": low,
        "max": high,
        "num": values.numel(),
        "sum": total,
        "sum_squares": squares,
        "bucket_limits": limits.tolist(),
        "bucket_counts": counts.tolist(),
    }


def log_histogram(sinks: Sinks, tag: str, tensors: Sequence[Tensor], step: int) -> None:
    sinks.histogram(tag, histogram_parts(tensors), step)
