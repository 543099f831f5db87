"""The Seq2Seq decoder: one step at a time, with attention (Bahdanau or Luong) or a fixed context.

Per step, with y the previous token's embedding, s the decoder state and K the encoder outputs:
- `bahdanau`: c = attend(query = top layer of s_{i-1}, K); s_i = RNN([y; c], s_{i-1});
- `luong_*`: s_i = RNN([y; h~_{i-1}], s_{i-1}) with input feeding (h~_0 = 0; [y] without);
  c = attend(query = top layer of s_i, K);
- `none`: c = the fixed context (mean of the encoder outputs over real positions) every step;
  s_i = RNN([y; c], s_{i-1}): the plain encoder-decoder, with as many inputs as Bahdanau's.
Every variant then outputs h~_i = tanh(W_c [c; h_i]) (Luong's attentional state, eq. 5) and
logits = W_o h~_i, so the variants differ only in where their context comes from.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from dlrun.models.seq2seq.attention import AttentionKind, make_attention
from dlrun.models.seq2seq.encoder import CELLS, Seq2SeqCell, State

LUONG = ("luong_dot", "luong_general", "luong_concat")


def select_state(state: State, index: Tensor) -> State:
    """The state's entries `index` along the batch axis (dim 1 of (layers, N, H))."""
    if isinstance(state, tuple):
        h, c = state
        return h.index_select(1, index), c.index_select(1, index)
    return state.index_select(1, index)


@dataclass
class Memory:
    """What the decoder reads from the encoder: fixed for a whole decode."""

    keys: Tensor  # (N, S, Hk)
    mask: Tensor  # (N, S) bool, True on real positions
    projected: Tensor | None  # the attention's key projection, computed once
    fixed: Tensor | None  # (N, Hk) the context of attention=none

    def select(self, index: Tensor) -> Memory:
        def pick(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.index_select(0, index)

        return Memory(
            self.keys.index_select(0, index), self.mask.index_select(0, index), pick(self.projected), pick(self.fixed)
        )


@dataclass
class DecoderState:
    hidden: State  # (layers, N, H), (h, c) for an LSTM
    feed: Tensor | None  # (N, H) previous h~ for Luong input feeding, else None

    def select(self, index: Tensor) -> DecoderState:
        feed = None if self.feed is None else self.feed.index_select(0, index)
        return DecoderState(select_state(self.hidden, index), feed)


class Decoder(nn.Module):
    banned: Tensor  # a buffer, registered in __init__

    def __init__(
        self,
        vocab_size: int,
        pad_id: int,
        cell: Seq2SeqCell,
        embedding_size: int,
        hidden_size: int,
        num_layers: int,
        key_size: int,
        attention: AttentionKind = "bahdanau",
        input_feeding: bool = True,
        dropout: float = 0.0,
        bos_id: int | None = None,
    ) -> None:
        super().__init__()
        # Never outputs: a PAD would read as the end of the output, a BOS as a restart.
        self.register_buffer("banned", torch.tensor([pad_id] + ([] if bos_id is None else [bos_id])), persistent=False)
        self.attention_name = attention
        self.attention = make_attention(attention, hidden_size, key_size)
        self.luong = attention in LUONG
        # Input feeding is Luong's device; Bahdanau's context already enters the RNN input.
        self.input_feeding = bool(input_feeding) and self.luong
        self.cell, self.hidden_size, self.key_size = cell, hidden_size, key_size
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=pad_id)
        self.dropout = nn.Dropout(dropout)
        extra = hidden_size if self.input_feeding else (0 if self.luong else key_size)
        self.rnn = CELLS[cell](
            embedding_size + extra,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.combine = nn.Linear(key_size + hidden_size, hidden_size, bias=False)  # W_c
        self.output = nn.Linear(hidden_size, vocab_size)

    def decodable(self, logits: Tensor) -> Tensor:
        """The logits with PAD and BOS at -inf: what free-running choices (argmax, beam) rank."""
        return logits.index_fill(-1, self.banned, float("-inf"))

    def memory(self, keys: Tensor, mask: Tensor) -> Memory:
        if self.attention is None:
            # Padding outputs are zeros (pad_packed_sequence), so the sum covers the real positions.
            fixed = (keys * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).to(keys)
            return Memory(keys, mask, None, fixed)
        return Memory(keys, mask, self.attention.project_keys(keys), None)

    def initial(self, hidden: State, batch: int) -> DecoderState:
        # A fresh zero h~_0 per call, so nothing carries over from the previous batch.
        top = hidden[0] if isinstance(hidden, tuple) else hidden
        feed = top.new_zeros(batch, self.hidden_size) if self.input_feeding else None
        return DecoderState(hidden, feed)

    def _top(self, hidden: State) -> Tensor:
        return (hidden[0] if isinstance(hidden, tuple) else hidden)[-1]

    def _attend(self, query: Tensor, memory: Memory) -> tuple[Tensor, Tensor]:
        assert self.attention is not None  # only the attention variants attend
        return self.attention(query, memory.keys, memory.mask, memory.projected)

    def _output(self, context: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        attentional = torch.tanh(self.combine(torch.cat([context, h], dim=-1)))
        return self.output(self.dropout(attentional)), attentional

    def step_embedded(
        self, embedded: Tensor, state: DecoderState, memory: Memory
    ) -> tuple[Tensor, DecoderState, Tensor | None]:
        """One step from an embedded input (N, E): (logits (N, V), next state, weights (N, S) or None)."""
        weights = None
        if self.attention_name == "bahdanau":
            # The query is s_{i-1}: the state before this step's RNN update.
            context, weights = self._attend(self._top(state.hidden), memory)
            x = torch.cat([embedded, context], dim=-1)
        elif self.attention is None:
            assert memory.fixed is not None  # memory() computes it for attention=none
            context = memory.fixed
            x = torch.cat([embedded, context], dim=-1)
        elif self.input_feeding:
            assert state.feed is not None  # initial() starts it for input feeding, every step passes it on
            x = torch.cat([embedded, state.feed], dim=-1)
        else:
            x = embedded
        out, hidden = self.rnn(x.unsqueeze(1), state.hidden)
        h = out[:, 0]
        if self.luong:
            # The query is h_t: the top layer after this step's update.
            context, weights = self._attend(h, memory)
        logits, attentional = self._output(context, h)
        return logits, DecoderState(hidden, attentional if self.input_feeding else None), weights

    def step(self, tokens: Tensor, state: DecoderState, memory: Memory) -> tuple[Tensor, DecoderState, Tensor | None]:
        """One step from the previous tokens (N,)."""
        return self.step_embedded(self.dropout(self.embedding(tokens)), state, memory)

    def teacher_forced(self, target_in: Tensor, state: DecoderState, memory: Memory) -> Tensor:
        """Logits (N, T, V) fed the gold tokens at every step: the same numbers as the step loop, faster.

        The embeddings are looked up once; without a dependence of the RNN input on the previous
        output (attention=none, Luong without input feeding) the RNN also runs over all steps at once.
        """
        embedded = self.dropout(self.embedding(target_in))
        steps = target_in.shape[1]
        if self.attention is None or (self.luong and not self.input_feeding):
            if self.attention is None:
                assert memory.fixed is not None  # memory() computes it for attention=none
                fixed = memory.fixed.unsqueeze(1).expand(-1, steps, -1)
                outs, _ = self.rnn(torch.cat([embedded, fixed], dim=-1), state.hidden)
                contexts = fixed
            else:
                outs, _ = self.rnn(embedded, state.hidden)
                contexts = torch.stack([self._attend(outs[:, t], memory)[0] for t in range(steps)], dim=1)
            return self._output(contexts, outs)[0]
        logits = []
        for t in range(steps):
            step_logits, state, _ = self.step_embedded(embedded[:, t], state, memory)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)

    def forward(
        self,
        target_in: Tensor,
        state: DecoderState,
        memory: Memory,
        teacher_forcing_ratio: float = 1.0,
        fast: bool = True,
    ) -> Tensor:
        """Logits (N, T, V); step t reads target_in[:, t] with probability `teacher_forcing_ratio`, else
        the model's own argmax at step t-1 (PAD and BOS excluded, as in greedy decoding).

        The coin is tossed per token per example (scheduled sampling, Bengio et al. 2015: one coin per
        sequence did much worse). Step 0 always reads BOS. The own token is an argmax of detached
        logits, an integer, so no gradient flows through a sampled choice.
        """
        if fast and teacher_forcing_ratio >= 1.0:
            return self.teacher_forced(target_in, state, memory)
        n, steps = target_in.shape
        gold = torch.rand(n, steps, device=target_in.device) < teacher_forcing_ratio
        tokens = target_in[:, 0]
        logits: list[Tensor] = []
        for t in range(steps):
            if t > 0:
                own = self.decodable(logits[-1].detach()).argmax(-1)
                tokens = torch.where(gold[:, t], target_in[:, t], own)
            step_logits, state, _ = self.step(tokens, state, memory)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)
