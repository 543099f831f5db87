"""A packing-free form of dlrun's RecurrentNet, for exporters that cannot trace packed sequences.

RecurrentNet packs right-padded batches (pack_padded_sequence) so that padding never reaches a
state. Neither ONNX exporter handles packed sequences (the dynamo one fails on their data-dependent
shapes, the TorchScript one in its peephole pass), so this module computes the same function of
(inputs, lengths) with plain tensor ops: each layer and direction runs as its own one-layer RNN over
the padded batch, the backward direction over each sequence reversed within its own length, so the
outputs at the real steps are those of the packed run (padding only comes after them); read-outs then
use only the real steps. `dlrun export` checks it against the packed model on the test split and
refuses the export when they differ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from dlrun.models.recurrent import RecurrentNet


class UnpackedRecurrent(nn.Module):
    """forward(inputs (N, T) or (N, T, F), lengths (N,) int64, 1 <= lengths <= T) -> outputs,
    equal to `net(inputs, lengths=lengths)`."""

    def __init__(self, net: RecurrentNet) -> None:
        super().__init__()
        rnn = net.rnn
        if getattr(rnn, "proj_size", 0):
            raise ValueError("LSTMs with proj_size are not supported")
        if not rnn.batch_first:
            raise ValueError("the recurrent layer is not batch_first")
        self.net = net
        self.directions = 2 if rnn.bidirectional else 1
        self.hidden_size = rnn.hidden_size
        self.layers = nn.ModuleList()
        for layer in range(rnn.num_layers):
            directions = nn.ModuleList()
            for direction in range(self.directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                extra = {"nonlinearity": rnn.nonlinearity} if isinstance(rnn, nn.RNN) else {}
                layer_class: Callable[..., nn.RNNBase] = type(rnn)
                single = layer_class(
                    rnn.input_size if layer == 0 else rnn.hidden_size * self.directions,
                    rnn.hidden_size,
                    num_layers=1,
                    bias=rnn.bias,
                    batch_first=True,
                    **extra,
                )
                names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if rnn.bias else [])
                single.load_state_dict(
                    {f"{name}_l0": getattr(rnn, f"{name}{suffix}").detach().clone() for name in names}
                )
                directions.append(single)
            self.layers.append(directions)

    def forward(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        net = self.net
        steps = net._steps(inputs)
        total = steps.shape[1]
        lengths = lengths.to(steps.device, torch.int64)
        positions = torch.arange(total, device=steps.device)[None, :]
        real = positions < lengths[:, None]  # (N, T)
        # Step t of the reversed sequence is step length-1-t of the original; padding stays in place.
        reverse = torch.where(real, lengths[:, None] - 1 - positions, positions)
        x = steps
        for module in self.layers:
            directions = cast(nn.ModuleList, module)  # built as a ModuleList per layer in __init__
            per_direction = [directions[0](x)[0]]
            if self.directions == 2:
                backward = directions[1](_gather_steps(x, reverse))[0]
                per_direction.append(_gather_steps(backward, reverse))
            x = torch.cat(per_direction, dim=-1)
        features = self._read_out(x, lengths, real)
        outputs = net.apply_head(features)
        if not net.predict_change:
            return outputs
        last = inputs[torch.arange(inputs.shape[0], device=inputs.device), lengths - 1, :1]
        return outputs + last

    def _read_out(self, outputs: Tensor, lengths: Tensor, real: Tensor) -> Tensor:
        read_out = self.net.read_out
        if read_out == "last":
            batch = torch.arange(outputs.shape[0], device=outputs.device)
            forward = outputs[batch, lengths - 1, : self.hidden_size]
            if self.directions == 1:
                return forward
            # The backward direction ends at step 0, after reading the whole sequence.
            return torch.cat([forward, outputs[:, 0, self.hidden_size :]], dim=-1)
        mask = real[..., None]
        if read_out == "frames":  # zero past each length, as pad_packed_sequence leaves them
            return outputs.masked_fill(~mask, 0.0)
        if read_out == "mean":
            return (outputs * mask.to(outputs.dtype)).sum(1) / lengths.to(outputs.dtype)[:, None]
        if read_out == "max":
            return outputs.masked_fill(~mask, float("-inf")).amax(1)
        scores = self.net.attention_scores(outputs).masked_fill(~real, float("-inf"))
        weights = scores.softmax(dim=1)
        return torch.bmm(weights.unsqueeze(1), outputs).squeeze(1)


def _gather_steps(x: Tensor, index: Tensor) -> Tensor:
    return torch.gather(x, 1, index[..., None].expand(-1, -1, x.shape[2]))


def supports(net: nn.Module) -> bool:
    """Whether `net` is a RecurrentNet this module can rewrite."""
    from dlrun.models.recurrent import READ_OUTS, RecurrentNet

    return (
        isinstance(net, RecurrentNet)
        and isinstance(getattr(net, "rnn", None), nn.RNN | nn.LSTM | nn.GRU)
        and getattr(net, "read_out", None) in READ_OUTS
    )
