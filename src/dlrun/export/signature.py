"""What a run's network takes, for the writers to trace and check: inputs, and lengths for
variable-length sequences; and the network called that way, with named inputs for the graph."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from dlrun.models.calling import call_model, takes_lengths


def signature_of(model: nn.Module, spec, test: dict) -> dict[str, Any]:
    if spec.task == "seq2seq" or "inputs" not in test:
        return {"lengths": False, "keys": sorted(test)}
    with_lengths = takes_lengths(model) and "lengths" in test
    return {"lengths": with_lengths, "keys": ["inputs", "lengths"] if with_lengths else ["inputs"]}


class Forward(nn.Module):
    """The network called as the task calls it, with named inputs for the exported graph."""

    def __init__(self, net: nn.Module, lengths: bool) -> None:
        super().__init__()
        self.net = net
        self.with_lengths = lengths

    def forward(self, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        return call_model(self.net, {"inputs": inputs, "lengths": lengths}, self.with_lengths)
