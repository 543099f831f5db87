"""Recurrent classifier/regressor: an RNN, LSTM or GRU over a sequence, a read-out, then a dense head."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from dlrun.choices import check_choice
from dlrun.models.layers import describe_activation, make_activation

Cell = Literal["rnn", "lstm", "gru"]
ReadOut = Literal["last", "mean", "max", "attention", "frames"]
Nonlinearity = Literal["tanh", "relu"]
CELLS: dict[Cell, type[nn.RNN] | type[nn.LSTM] | type[nn.GRU]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
READ_OUTS = get_args(ReadOut)


def _is_positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


class RecurrentNet(nn.Module):
    """[Embedding] -> stacked (bi)RNN/LSTM/GRU -> read-out over the real steps -> dense head.

    Inputs, by `input_shape`:
    - (steps, features): dense sequences (N, T, features), T up to `steps`;
    - (channels, height, width): images, read row by row (sequential MNIST): H steps of C*W features;
    - (max_length,) with `vocab_size` > 0: token ids (N, T) embedded with `pad_id` as padding.

    `forward(inputs, lengths)` takes the real steps of each right-padded example; with lengths the
    run is packed, so padding never reaches a state or the read-out. The read-outs: `last` (final
    state of each direction: forward after the last real step, backward after step 0), `mean` and
    `max` over real steps, `attention` (a learned score per step, softmax over real steps; the
    weights of the latest forward are kept, detached, in `last_attention`), or `frames`: no read-out,
    the head applied to every step, for outputs (N, T, num_outputs) such as CTC's per-frame labels
    (steps past a length hold the head's output for a zero state). With `predict_change`
    (forecasting) the outputs are changes added to the last observed value of the first feature.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        cell: Cell = "lstm",
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = False,
        nonlinearity: Nonlinearity = "tanh",
        dropout: float = 0.0,
        head_dropout: float = 0.0,
        read_out: ReadOut = "last",
        head_sizes: Sequence[int] = (),
        head_activation: str | Mapping[str, Any] = "relu",
        vocab_size: int = 0,
        pad_id: int = 0,
        embedding_size: int = 64,
        predict_change: bool = False,
    ) -> None:
        super().__init__()
        check_choice("cell", cell, Cell)
        check_choice("read_out", read_out, ReadOut)
        check_choice("nonlinearity", nonlinearity, Nonlinearity)
        if cell != "rnn" and nonlinearity != "tanh":
            raise ValueError(
                f"nonlinearity={nonlinearity} only applies to cell=rnn; {cell} cells use their own gates "
                "and tanh. Use cell=rnn for a relu RNN, or leave nonlinearity at tanh."
            )
        sizes = {"hidden_size": hidden_size, "num_layers": num_layers, "embedding_size": embedding_size}
        for name, value in sizes.items():
            if not _is_positive_int(value):
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
        for name, rate in (("dropout", dropout), ("head_dropout", head_dropout)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {rate}")
        if dropout > 0 and num_layers < 2:
            raise ValueError(
                f"dropout={dropout} applies between stacked recurrent layers, so it needs num_layers >= 2 "
                f"(got {num_layers}); use head_dropout for dropout after a single layer."
            )
        # Parsed even without head layers, so a misspelt activation is reported rather than ignored.
        describe_activation(head_activation)
        self.image_input, step_features = self._step_features(input_shape, vocab_size, embedding_size)
        if predict_change and read_out == "frames":
            raise ValueError(
                "predict_change adds the last observed value to one forecast per sequence, and read_out=frames "
                "gives an output per step; use another read_out with predict_change"
            )
        if predict_change and (vocab_size > 0 or self.image_input):
            raise ValueError(
                "predict_change forecasts the change from the last value of the first input feature, so it "
                "needs dense (steps, features) sequences such as a series' windows, not tokens or images"
            )
        self.predict_change = predict_change

        # What an initializer needs to pick its gain (see dlrun.training.initializers): the cell's.
        self.nonlinearity = nonlinearity if cell == "rnn" else "tanh"
        self.nonlinearity_param = None
        self.cell = cell
        self.read_out = read_out
        self.num_directions = 2 if bidirectional else 1
        if vocab_size > 0:
            if not 0 <= pad_id < vocab_size:
                raise ValueError(f"pad_id must be a token id in [0, {vocab_size}), got {pad_id}")
            self.embedding: nn.Embedding | None = nn.Embedding(vocab_size, embedding_size, padding_idx=pad_id)
        else:
            self.embedding = None
        extra = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
        # RNNBase: models.hidden_states swaps in a stand-in that takes and returns what the layer does.
        self.rnn: nn.RNNBase = CELLS[cell](
            step_features,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout,
            bidirectional=bidirectional,
            **extra,
        )
        width = hidden_size * self.num_directions
        self.attention = nn.Linear(width, 1) if read_out == "attention" else None
        self.last_attention: Tensor | None = None

        head: list[nn.Module] = []
        for size in head_sizes:
            if head_dropout > 0:
                head.append(nn.Dropout(head_dropout))
            head += [nn.Linear(width, size), make_activation(head_activation, features=size)]
            width = size
        if head_dropout > 0:
            head.append(nn.Dropout(head_dropout))
        head.append(nn.Linear(width, num_outputs))
        self.head = nn.Sequential(*head)

    @staticmethod
    def _step_features(input_shape: Sequence[int], vocab_size: int, embedding_size: int) -> tuple[bool, int]:
        """(whether inputs are images, features per step) for `input_shape`."""
        shape = tuple(input_shape)
        if vocab_size < 0:
            raise ValueError(f"vocab_size must be >= 0 (0 for dense inputs), got {vocab_size}")
        if vocab_size > 0:
            if len(shape) != 1:
                raise ValueError(
                    f"token inputs (vocab_size={vocab_size}) are served as (max_length,) ids per example, "
                    f"got examples of shape {shape}"
                )
            return False, embedding_size
        if len(shape) == 1:
            raise ValueError(
                f"a recurrent model needs sequences, but this data serves a table of {shape[0]} features "
                "per example (no step axis). Use model=mlp for tables, or a sequence data set "
                "(steps, features), a text data set (token ids with a vocabulary) or an image data set "
                "(read row by row)."
            )
        if len(shape) == 2:
            return False, shape[1]
        if len(shape) == 3:
            return True, shape[0] * shape[2]
        raise ValueError(
            f"a recurrent model takes (steps, features) sequences, (channels, height, width) images or "
            f"(max_length,) token ids, got examples of shape {shape}"
        )

    def _steps(self, inputs: Tensor) -> Tensor:
        if self.embedding is not None:
            return self.embedding(inputs)
        if self.image_input:
            # Each row becomes a step holding every channel's pixels of that row.
            return inputs.permute(0, 2, 1, 3).flatten(2)
        return inputs

    def features(self, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        """The read-out, (N, hidden_size * directions): what the head sees; (N, T, ...) for `frames`."""
        steps = self._steps(inputs)
        total = steps.shape[1]
        if lengths is None:
            outputs, state = self.rnn(steps)
        else:
            cpu_lengths = lengths.to("cpu", torch.int64)
            packed = pack_padded_sequence(steps, cpu_lengths, batch_first=True, enforce_sorted=False)
            outputs, state = self.rnn(packed)

        if self.read_out == "last":
            h_n = state[0] if self.cell == "lstm" else state
            top = h_n.view(self.rnn.num_layers, self.num_directions, h_n.shape[1], h_n.shape[2])[-1]
            return top.transpose(0, 1).flatten(1)

        if self.read_out == "frames":
            # pad_packed_sequence fills the steps past each length with zeros.
            return outputs if lengths is None else pad_packed_sequence(outputs, batch_first=True, total_length=total)[0]

        if lengths is None:
            if self.read_out == "mean":
                return outputs.mean(1)
            if self.read_out == "max":
                return outputs.amax(1)
            scores = self.attention_scores(outputs)
        else:
            outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=total)
            if self.read_out == "mean":
                # pad_packed_sequence fills the padding with zeros, so the sum covers the real steps only.
                return outputs.sum(1) / lengths.to(outputs)[:, None]
            pad = torch.arange(total, device=outputs.device) >= lengths.to(outputs.device)[:, None]
            if self.read_out == "max":
                return outputs.masked_fill(pad[..., None], float("-inf")).amax(1)
            # Masked before the softmax, so padding gets exactly zero weight; pack_padded_sequence
            # rejects length 0, so no row is fully masked.
            scores = self.attention_scores(outputs).masked_fill(pad, float("-inf"))
        weights = scores.softmax(dim=1)
        self.last_attention = weights.detach()
        return torch.bmm(weights.unsqueeze(1), outputs).squeeze(1)

    def attention_scores(self, outputs: Tensor) -> Tensor:
        """The `attention` read-out's unnormalized score of each step, (N, T), padding not yet masked."""
        assert self.attention is not None  # built for read_out=attention, the only read-out that scores
        return self.attention(outputs).squeeze(-1)

    def attention_weights(self, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        """(N, T) attention weights over the steps of `inputs`; zero on padding, rows sum to 1."""
        if self.read_out != "attention":
            raise ValueError(f"attention weights need read_out=attention, this model reads out '{self.read_out}'")
        with torch.no_grad():
            self.features(inputs, lengths)
        assert self.last_attention is not None  # features() keeps them for read_out=attention
        return self.last_attention

    @property
    def outputs_per_step(self) -> bool:
        """Whether forward gives (N, T, num_outputs), an output per step, instead of (N, num_outputs)."""
        return self.read_out == "frames"

    def apply_head(self, features: Tensor) -> Tensor:
        """The dense head on the read-out; on every step of (N, T, width) for `frames`."""
        if self.read_out != "frames":
            return self.head(features)
        # Flattened to (N * T, width): a per-feature PReLU reads its features from dim 1.
        return self.head(features.flatten(0, 1)).unflatten(0, features.shape[:2])

    def forward(self, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        outputs = self.apply_head(self.features(inputs, lengths))
        if not self.predict_change:
            return outputs
        # A forecast of the target (the first feature) as the change from its last observed value: a
        # series with a trend leaves its training range, and a network only outputs what it learned.
        last = (
            inputs[:, -1, :1]
            if lengths is None
            else inputs[torch.arange(len(inputs)), lengths.to(inputs.device) - 1, :1]
        )
        return outputs + last
