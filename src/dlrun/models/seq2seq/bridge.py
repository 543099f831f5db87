"""From the encoder's final states to the decoder's first state: `linear_tanh`, `last` or `zero`."""

from __future__ import annotations

from typing import Literal, cast

import torch
from torch import Tensor, nn

from dlrun.choices import check_choice
from dlrun.models.seq2seq.encoder import Seq2SeqCell, State

BridgeKind = Literal["linear_tanh", "last", "zero"]


def per_layer_final(h_n: Tensor, num_layers: int, num_directions: int) -> Tensor:
    """(layers * dirs, N, H) -> (layers, N, dirs * H): each layer's [forward final; backward final].

    h_n is layer-major ([l0_fwd, l0_bwd, l1_fwd, ...]), so `h_n[:num_layers]` would be layer 0's two
    directions, not each layer's forward state; the view splits layers from directions first.
    """
    _, n, h = h_n.shape
    return h_n.view(num_layers, num_directions, n, h).permute(0, 2, 1, 3).reshape(num_layers, n, num_directions * h)


class Bridge(nn.Module):
    """`forward(encoder_state)` -> the decoder's initial state (layers, N, decoder_hidden), h and c for an LSTM.

    - `linear_tanh`: tanh(W [fwd; bwd] + b) per layer (one W shared by the layers; a separate one for c);
    - `last`: the per-layer [fwd; bwd] as is, so its width (dirs * hidden) must equal the decoder's;
    - `zero`: zeros, so the decoder learns from attention (or the fixed context) alone.
    """

    def __init__(
        self,
        kind: BridgeKind,
        cell: Seq2SeqCell,
        num_layers: int,
        num_directions: int,
        encoder_hidden: int,
        decoder_hidden: int,
    ) -> None:
        super().__init__()
        check_choice("bridge", kind, BridgeKind)
        width = num_directions * encoder_hidden
        if kind == "last" and width != decoder_hidden:
            raise ValueError(
                f"bridge=last hands the encoder's final states to the decoder as they are, but they are "
                f"{width} wide ({num_directions} direction(s) x hidden_size {encoder_hidden}) and the decoder's "
                f"hidden size is {decoder_hidden}. Set decoder_hidden_size={width}, or use bridge=linear_tanh "
                "(a learned projection) or bridge=zero."
            )
        self.kind, self.cell = kind, cell
        self.num_layers, self.num_directions, self.decoder_hidden = num_layers, num_directions, decoder_hidden
        if kind == "linear_tanh":
            self.h = nn.Linear(width, decoder_hidden)
            self.c = nn.Linear(width, decoder_hidden) if cell == "lstm" else None

    def _one(self, final: Tensor, linear: nn.Linear | None) -> Tensor:
        if self.kind == "zero":
            return final.new_zeros(self.num_layers, final.shape[1], self.decoder_hidden)
        joined = per_layer_final(final, self.num_layers, self.num_directions)
        if self.kind == "last":
            return joined.contiguous()
        assert linear is not None  # linear_tanh builds its layers
        return torch.tanh(linear(joined))

    def forward(self, state: State) -> State:
        if self.cell == "lstm":
            h_n, c_n = state
            return self._one(h_n, getattr(self, "h", None)), self._one(c_n, getattr(self, "c", None))
        return self._one(cast(Tensor, state), getattr(self, "h", None))  # a GRU's state is h_n alone
