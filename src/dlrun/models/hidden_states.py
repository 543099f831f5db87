"""The hidden state of a RecurrentNet after every step, as tensors inside the loss's graph.

A fused recurrent layer (nn.RNN, nn.LSTM, nn.GRU, cuDNN's or not) keeps its per-step states inside one
call: its `outputs` are copies that no later step reads, so their gradient is only what the read-out
sends back directly. To see back-propagation through time, the same layer with the same weights runs
here one step per call instead, each state fed into the next call: the gradient of the loss with
respect to a recorded state is then all the gradient that reaches that step.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from dlrun.models.recurrent import RecurrentNet


class _OneStepAtATime(nn.Module):
    """Takes what nn.RNN/LSTM/GRU (batch_first) take and returns what they return, one step per call
    of the wrapped layer; `states` gets the state of every layer after each step, (layers, N, hidden)."""

    def __init__(self, rnn: nn.RNNBase, states: list[Tensor]) -> None:
        super().__init__()
        self.rnn = rnn
        self.states = states
        self.num_layers = rnn.num_layers  # the read-out reads it off the layer

    def forward(self, steps: Tensor | PackedSequence, hx=None):
        packed = isinstance(steps, PackedSequence)
        lengths = None
        if isinstance(steps, PackedSequence):
            steps, lengths = pad_packed_sequence(steps, batch_first=True)
        state, outputs = hx, []
        for t in range(steps.shape[1]):
            output, new_state = self.rnn(steps[:, t : t + 1], state)
            if lengths is not None and state is not None:
                # An example past its end keeps its last state, as packing does; its output is 0 there,
                # as pad_packed_sequence leaves it.
                live = (t < lengths).to(output.device)
                output = output * live[:, None, None]
                new_state = _where_live(live, new_state, state)
            self.states.append(new_state[0] if isinstance(new_state, tuple) else new_state)
            state = new_state
            outputs.append(output)
        joined = torch.cat(outputs, dim=1)
        if packed:
            assert lengths is not None  # unpacked above
            return pack_padded_sequence(joined, lengths, batch_first=True, enforce_sorted=False), state
        return joined, state


def _where_live(live: Tensor, new, old):
    if isinstance(new, tuple):  # an LSTM's (h, c)
        return tuple(_where_live(live, n, o) for n, o in zip(new, old))
    return torch.where(live[None, :, None], new, old)


@contextmanager
def stepwise_states(model: RecurrentNet) -> Iterator[list[Tensor]]:
    """While inside, `model` computes what it always does, with its recurrent layer run one step per
    call; the list it yields fills with the hidden state after each step (for an LSTM h, not c), each
    (num_layers, N, hidden_size). A padded example keeps its last real state past its length.

    Bidirectional models are refused: stepping forward cannot run the backward direction.
    """
    if model.num_directions != 1:
        raise ValueError("per-step hidden states need a one-directional recurrent layer (bidirectional=false)")
    states: list[Tensor] = []
    fused = model.rnn
    # A stand-in, not an RNNBase: it takes and returns what the fused layer does (num_layers included).
    model.rnn = cast(nn.RNNBase, _OneStepAtATime(fused, states))
    try:
        yield states
    finally:
        model.rnn = fused
