"""The Seq2Seq encoder: embedding (pad as padding_idx) -> packed, optionally bidirectional GRU/LSTM."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from dlrun.choices import check_choice

Seq2SeqCell = Literal["gru", "lstm"]
CELLS: dict[Seq2SeqCell, type[nn.GRU] | type[nn.LSTM]] = {"gru": nn.GRU, "lstm": nn.LSTM}

# What an RNN returns as its final state: h_n for a GRU, (h_n, c_n) for an LSTM; each (layers * dirs, N, H).
State = Tensor | tuple[Tensor, Tensor]


class Encoder(nn.Module):
    """`forward(source (N, S), lengths (N,))` -> (outputs (N, S, H * dirs), final state of the packed run).

    The run is packed, so neither the outputs at real positions nor the final states depend on the
    padding: the backward direction starts at each example's last real token, not at the padding.
    Outputs at pad positions are zeros (pad_packed_sequence's fill); attention masks them anyway.
    """

    def __init__(
        self,
        vocab_size: int,
        pad_id: int,
        cell: Seq2SeqCell = "gru",
        embedding_size: int = 64,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_choice("cell", cell, Seq2SeqCell)
        self.cell = cell
        self.num_layers = num_layers
        self.num_directions = 2 if bidirectional else 1
        self.hidden_size = hidden_size
        self.output_size = hidden_size * self.num_directions
        self.pad_id = pad_id
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=pad_id)
        self.dropout = nn.Dropout(dropout)
        # torch applies the RNN's own dropout only between stacked layers, hence the separate one above.
        self.rnn = CELLS[cell](
            embedding_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
        )

    def forward(self, source: Tensor, lengths: Tensor) -> tuple[Tensor, State]:
        if source.dim() != 2:
            raise ValueError(f"source must be (N, S) token ids, got shape {tuple(source.shape)}")
        cpu_lengths = torch.as_tensor(lengths).to("cpu", torch.int64)
        if cpu_lengths.shape != source.shape[:1]:
            raise ValueError(
                f"source_lengths must be (N,) = ({source.shape[0]},), got shape {tuple(cpu_lengths.shape)}"
            )
        if len(cpu_lengths) and (cpu_lengths.min() < 1 or cpu_lengths.max() > source.shape[1]):
            raise ValueError(
                f"source_lengths must be in [1, {source.shape[1]}] (the padded source width), got "
                f"{cpu_lengths.min().item()}..{cpu_lengths.max().item()}; an empty source has nothing to attend to"
            )
        steps = self.dropout(self.embedding(source))
        packed = pack_padded_sequence(steps, cpu_lengths, batch_first=True, enforce_sorted=False)
        outputs, state = self.rnn(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=source.shape[1])
        return outputs, state
