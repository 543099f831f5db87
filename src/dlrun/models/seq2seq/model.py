"""Seq2Seq: encoder -> bridge -> decoder (attention or a fixed context), with greedy and beam decoding."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from dlrun.models.recurrent import _is_positive_int
from dlrun.models.seq2seq.attention import AttentionKind
from dlrun.models.seq2seq.bridge import Bridge, BridgeKind
from dlrun.models.seq2seq.decoder import Decoder, DecoderState, Memory
from dlrun.models.seq2seq.encoder import Encoder, Seq2SeqCell
from dlrun.models.seq2seq.search import beam_search, greedy_decode
from dlrun.models.seq2seq.teacher_forcing import Schedule, TeacherForcingSchedule


class Seq2Seq(nn.Module):
    """An RNN encoder-decoder for (source, target) token sequences.

    - Encoder: embedding (padding_idx=pad_id) and a packed GRU/LSTM, bidirectional by default,
      `hidden_size` per direction, `num_layers` layers; its outputs are the attention keys.
    - Bridge (`bridge`): the decoder's first state per layer from [forward final; backward final]
      of the packed run: `linear_tanh`, `last` (as is: sizes must match) or `zero`.
    - Decoder: `num_layers` layers of `decoder_hidden_size` (default `hidden_size`), with
      `attention` one of none|bahdanau|luong_dot|luong_general|luong_concat (see decoder.py);
      `none` feeds the mean of the encoder outputs over the real source positions at every step.
      `input_feeding` applies to the Luong variants only. `luong_dot` needs the decoder hidden size
      equal to the key width (2 * hidden_size with a bidirectional encoder): it raises rather than
      adding a hidden projection; `luong_general` is the projected form.
    - `dropout`: on embeddings, between stacked layers and before the output layer.
    - Decode limit per example: floor(max_decode_factor * source_length) + max_decode_extra tokens,
      EOS included, unless a call passes `max_length`.

    Batches: `source` (N, S) right-padded with pad_id, `source_lengths` (N,), `target_in` (N, T) =
    BOS + y. `forward` gives logits (N, T, V) to compare with `target_out` = y + EOS, ignoring pad.
    """

    def __init__(
        self,
        source_vocab_size: int,
        target_vocab_size: int,
        pad_id: int,
        bos_id: int,
        eos_id: int,
        cell: Seq2SeqCell = "gru",
        embedding_size: int = 64,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional_encoder: bool = True,
        dropout: float = 0.0,
        bridge: BridgeKind = "linear_tanh",
        attention: AttentionKind = "bahdanau",
        input_feeding: bool = True,
        decoder_hidden_size: int | None = None,
        max_decode_factor: float = 2.0,
        max_decode_extra: int = 10,
        teacher_forcing_ratio: float = 1.0,
        teacher_forcing_schedule: Schedule = "constant",
        teacher_forcing_decay_steps: int = 1000,
        beam_size: int = 1,
        length_penalty: float = 1.0,
    ) -> None:
        super().__init__()
        # Training and decoding settings live with the model they describe; the task asks for them.
        self.teacher_forcing = TeacherForcingSchedule(
            teacher_forcing_ratio, teacher_forcing_schedule, teacher_forcing_decay_steps
        )
        if not _is_positive_int(beam_size):
            raise ValueError(f"beam_size must be a whole number >= 1 (1 is greedy decoding), got {beam_size!r}")
        if isinstance(length_penalty, bool) or not isinstance(length_penalty, int | float) or not length_penalty >= 0:
            raise ValueError(f"length_penalty is GNMT's alpha, >= 0 (0 for none, 0.6-1.0 usual), got {length_penalty}")
        self.beam_size = beam_size
        self.length_penalty = float(length_penalty)
        # cell, bridge and attention are checked by the parts that use them (Encoder, Bridge, make_attention).
        decoder_hidden_size = hidden_size if decoder_hidden_size is None else decoder_hidden_size
        sizes = {
            "source_vocab_size": source_vocab_size,
            "target_vocab_size": target_vocab_size,
            "embedding_size": embedding_size,
            "hidden_size": hidden_size,
            "decoder_hidden_size": decoder_hidden_size,
            "num_layers": num_layers,
        }
        for name, value in sizes.items():
            if not _is_positive_int(value):
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
        ids = {"pad_id": pad_id, "bos_id": bos_id, "eos_id": eos_id}
        if len(set(ids.values())) != 3:
            # PAD == BOS teaches the decoder to ignore its start token (the loss skips pad targets).
            raise ValueError(f"pad_id, bos_id and eos_id must be distinct token ids, got {ids}")
        for name, value in ids.items():
            if not (isinstance(value, int) and 0 <= value < target_vocab_size):
                raise ValueError(f"{name} must be a target token id in [0, {target_vocab_size}), got {value!r}")
        if not 0 <= pad_id < source_vocab_size:
            raise ValueError(f"pad_id must also be a source token id in [0, {source_vocab_size}), got {pad_id}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if not (max_decode_factor >= 0 and isinstance(max_decode_extra, int) and max_decode_extra >= 0):
            raise ValueError(
                f"the decode limit floor(max_decode_factor * source_length) + max_decode_extra needs "
                f"max_decode_factor >= 0 and a whole max_decode_extra >= 0, got {max_decode_factor} and {max_decode_extra!r}"
            )
        if math.floor(max_decode_factor) + max_decode_extra < 1:
            raise ValueError(
                "the decode limit floor(max_decode_factor * source_length) + max_decode_extra is 0 for a "
                "one-token source, so nothing could be decoded; raise max_decode_extra to at least 1"
            )
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.max_decode_factor, self.max_decode_extra = float(max_decode_factor), max_decode_extra
        self.cell, self.attention_name = cell, attention
        self.encoder = Encoder(
            source_vocab_size, pad_id, cell, embedding_size, hidden_size, num_layers, bidirectional_encoder, dropout
        )
        self.bridge = Bridge(bridge, cell, num_layers, self.encoder.num_directions, hidden_size, decoder_hidden_size)
        self.decoder = Decoder(
            target_vocab_size,
            pad_id,
            cell,
            embedding_size,
            decoder_hidden_size,
            num_layers,
            self.encoder.output_size,
            attention,
            input_feeding,
            dropout,
            bos_id,
        )
        # Tests set this False to compare the teacher-forced fast path with the step loop.
        self.fast_teacher_forcing = True

    def encode(self, source: Tensor, source_lengths: Tensor) -> tuple[DecoderState, Memory]:
        """The decoder's initial state and the encoder memory (keys, mask, projections)."""
        keys, final = self.encoder(source, source_lengths)
        lengths = torch.as_tensor(source_lengths).to(source.device)
        mask = torch.arange(source.shape[1], device=source.device)[None, :] < lengths[:, None]
        memory = self.decoder.memory(keys, mask)
        return self.decoder.initial(self.bridge(final), source.shape[0]), memory

    def decode_limits(self, source_lengths: Tensor, max_length: int | None = None) -> Tensor:
        """(N,) the most tokens (EOS included) each example may decode."""
        lengths = torch.as_tensor(source_lengths).to("cpu", torch.int64)
        if max_length is not None:
            if not _is_positive_int(max_length):
                raise ValueError(f"max_length must be a whole number >= 1, got {max_length!r}")
            return torch.full_like(lengths, max_length)
        return torch.floor(self.max_decode_factor * lengths.double()).long() + self.max_decode_extra

    def forward(
        self, source: Tensor, source_lengths: Tensor, target_in: Tensor, teacher_forcing_ratio: float = 1.0
    ) -> Tensor:
        """Logits (N, T, V): gold inputs with probability `teacher_forcing_ratio` per token per example,
        else the model's previous argmax (see Decoder.forward). 1.0 is plain teacher forcing."""
        if not 0.0 <= teacher_forcing_ratio <= 1.0:
            raise ValueError(f"teacher_forcing_ratio must be in [0, 1], got {teacher_forcing_ratio}")
        if target_in.dim() != 2 or target_in.shape[0] != source.shape[0]:
            raise ValueError(
                f"target_in must be (N, T) token ids with N = {source.shape[0]} like the source, "
                f"got shape {tuple(target_in.shape)}"
            )
        state, memory = self.encode(source, source_lengths)
        return self.decoder(target_in, state, memory, teacher_forcing_ratio, fast=self.fast_teacher_forcing)

    @torch.no_grad()
    def decode(self, source: Tensor, source_lengths: Tensor) -> Tensor:
        """Tokens (N, L) by the configured decoding: greedy for beam_size 1, else beam search."""
        if self.beam_size == 1:
            return self.greedy(source, source_lengths)[0]
        return self.beam_search(source, source_lengths, self.beam_size, self.length_penalty)

    @torch.no_grad()
    def greedy(
        self, source: Tensor, source_lengths: Tensor, max_length: int | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """(tokens (N, L), attention (N, L, S) or None for attention=none): argmax decoding that stops
        each example at EOS (kept, pad after) or at its limit. Runs in the module's current mode."""
        limits = self.decode_limits(source_lengths, max_length)
        state, memory = self.encode(source, source_lengths)
        return greedy_decode(self.decoder, state, memory, self.bos_id, self.eos_id, self.pad_id, limits)

    @torch.no_grad()
    def beam_search(
        self,
        source: Tensor,
        source_lengths: Tensor,
        beam_size: int,
        length_penalty: float = 1.0,
        max_length: int | None = None,
    ) -> Tensor:
        """Tokens (N, L) like `greedy`'s; hypotheses ranked by log p / ((5 + length) / 6) ** length_penalty
        (GNMT; 0 ranks by raw log p). beam_size 1 gives exactly greedy's tokens."""
        if not _is_positive_int(beam_size):
            raise ValueError(f"beam_size must be a whole number >= 1 (1 is greedy decoding), got {beam_size!r}")
        if not length_penalty >= 0:
            raise ValueError(f"length_penalty is GNMT's alpha, >= 0 (0 for none, 0.6-1.0 usual), got {length_penalty}")
        limits = self.decode_limits(source_lengths, max_length)
        state, memory = self.encode(source, source_lengths)
        return beam_search(
            self.decoder, state, memory, self.bos_id, self.eos_id, self.pad_id, limits, beam_size, length_penalty
        )
