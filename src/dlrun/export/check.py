"""How an export is checked before it is kept: the test split as the example batch handed to the
tracer and as the batches the written file is run on, and the tolerance its outputs must meet."""

from __future__ import annotations

from dlrun.errors import DlrunError
from dlrun.export.result import Export

EXAMPLE_ROWS = 8  # the example batch handed to the tracer / exporter
CHECK_BATCH = 1024  # test examples per checked batch
TOLERANCE = 1e-4  # the largest absolute difference from torch's outputs an export may have


def example(test: dict, signature: dict) -> tuple:
    from dlrun.data.padding import trim_to_longest

    rows = min(EXAMPLE_ROWS, len(test["inputs"]))
    batch = trim_to_longest({k: v[:rows] for k, v in test.items()})
    return tuple(batch[k].cpu() for k in signature["keys"])


def check_batches(test: dict, signature: dict) -> list[tuple]:
    """The whole test split in batches, each cut to its own longest sequence as training serves them."""
    from dlrun.data.padding import trim_to_longest

    total = len(test["inputs"])
    if total == 0:
        raise DlrunError("The run's test split is empty: there is nothing to take an example input from.")
    batches = []
    for start in range(0, total, CHECK_BATCH):
        batch = trim_to_longest({k: v[start : start + CHECK_BATCH] for k, v in test.items()})
        batches.append(tuple(batch[k].cpu() for k in signature["keys"]))
    return batches


def outputs_of(value) -> tuple:
    """A module's outputs as a tuple: one tensor, or the tensor and its read-out."""
    return tuple(value) if isinstance(value, tuple | list) else (value,)


def difference(got, expected, scales: list[float]) -> float:
    """The largest absolute difference over every output, each divided by its scale."""
    import torch

    diffs = [
        float((torch.as_tensor(g).double() - e.double()).abs().max()) / scale if e.numel() else 0.0
        for g, e, scale in zip(outputs_of(got), outputs_of(expected), scales, strict=True)
    ]
    if any(d != d for d in diffs):
        return float("nan")  # NaN must fail the tolerance, wherever it is
    return max(diffs, default=0.0)


def worse(a: float, b: float) -> float:
    """The larger difference; a NaN wins, so that it fails the tolerance."""
    return a if a != a else b if b != b else max(a, b)


def accept(result: Export, diff: float, how: str, what: str) -> None:
    result.max_abs_diff = diff
    if not diff <= TOLERANCE:  # NaN fails too
        raise DlrunError(
            f"The {what} export does not compute what the model computes: its outputs differ from torch's by up to "
            f"{diff:.3g} ({how}), above the tolerance of {TOLERANCE:g}. Nothing was written. "
            "Export --format safetensors (the weights themselves) instead."
        )
    result.check = f"{how}: max abs diff from torch {diff:.3g}"
