"""What a run's network takes, for the writers to trace and check: inputs, and lengths for
variable-length sequences (dlrun.export.raw_inputs.RawInputModel calls it that way)."""

from __future__ import annotations

from typing import Any

from torch import nn

from dlrun.models.calling import takes_lengths


def signature_of(model: nn.Module, spec, test: dict) -> dict[str, Any]:
    if spec.task == "seq2seq" or "inputs" not in test:
        return {"lengths": False, "keys": sorted(test)}
    with_lengths = takes_lengths(model) and "lengths" in test
    return {"lengths": with_lengths, "keys": ["inputs", "lengths"] if with_lengths else ["inputs"]}
