"""Attention over encoder outputs: Bahdanau (additive) and Luong (dot, general, concat).

Every class has `forward(query (N, Hq), keys (N, S, Hk), mask (N, S) bool, True = real key)` and returns
`(context (N, Hk), weights (N, S))`. The key-side projection depends only on the keys, so a decoder may
compute it once per batch with `project_keys(keys)` and pass it as `projected` at every step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from dlrun.choices import check_choice


def masked_softmax(scores: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Softmax over the real keys only: weights on padding are exactly 0 and each row sums to 1.

    The padding is filled with the dtype's minimum before the softmax (not after, not with a large
    constant): exp(min - max) underflows to exactly 0 whenever a row has one real key, and, unlike
    -inf, a fully masked row cannot turn into NaN and poison the batch (the encoder refuses empty
    sources, so such a row only comes from a caller's bad mask).
    """
    if mask.shape != scores.shape:
        raise ValueError(
            f"the attention mask must be (N, S) like the scores {tuple(scores.shape)}, got {tuple(mask.shape)}"
        )
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return scores.softmax(dim=-1), scores


def _context(weights: Tensor, keys: Tensor) -> Tensor:
    return torch.bmm(weights.unsqueeze(1), keys).squeeze(1)


class Attention(nn.Module, ABC):
    """Shared plumbing: score, mask, softmax, weighted sum of the keys."""

    query_size: int
    key_size: int
    # Its layers score the keys rather than carry the signal from input to output: their gradient is
    # small while the attention weights are still spread out, whatever the depth, so the diagnostics
    # do not judge it against the output layer's (see callbacks/diagnostics_layers.py, side_path_layers).
    diagnostics_side_path = True

    def project_keys(self, keys: Tensor) -> Tensor | None:
        return None

    @abstractmethod
    def score(self, query: Tensor, keys: Tensor, projected: Tensor | None) -> Tensor:
        """Unnormalized scores (N, S) of each key for the query; padding is masked afterwards."""

    def forward(
        self, query: Tensor, keys: Tensor, mask: Tensor, projected: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        if projected is None:
            projected = self.project_keys(keys)
        weights, _ = masked_softmax(self.score(query, keys, projected), mask)
        return _context(weights, keys), weights


class BahdanauAttention(Attention):
    """Additive score e_j = v^T tanh(W q + U k_j) (Bahdanau et al. 2015, eq. 6 / appendix A.1.2).

    The decoder queries with its PREVIOUS state s_{i-1}, before the recurrent step, and feeds the
    context into the step's input. No biases, as in the paper's equations.
    """

    def __init__(self, query_size: int, key_size: int, attention_size: int | None = None) -> None:
        super().__init__()
        self.query_size, self.key_size = query_size, key_size
        attention_size = attention_size or query_size
        self.W = nn.Linear(query_size, attention_size, bias=False)
        self.U = nn.Linear(key_size, attention_size, bias=False)
        self.v = nn.Linear(attention_size, 1, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        return self.U(keys)

    def score(self, query: Tensor, keys: Tensor, projected: Tensor | None) -> Tensor:
        return self.v(torch.tanh(self.W(query).unsqueeze(1) + projected)).squeeze(-1)


class LuongDotAttention(Attention):
    """Dot score e_j = q^T k_j (Luong et al. 2015, eq. 8): the query and key sizes must match."""

    def __init__(self, query_size: int, key_size: int) -> None:
        super().__init__()
        if query_size != key_size:
            raise ValueError(
                f"luong_dot scores q^T k, so the decoder's hidden size ({query_size}) must equal the size of "
                f"the encoder outputs ({key_size}; a bidirectional encoder's outputs are 2 * hidden_size "
                f"wide). Set decoder_hidden_size={key_size}, or bidirectional_encoder=false with equal "
                "sizes, or use attention=luong_general, which learns the projection (q^T W k)."
            )
        self.query_size, self.key_size = query_size, key_size

    def score(self, query: Tensor, keys: Tensor, projected: Tensor | None) -> Tensor:
        return torch.bmm(keys, query.unsqueeze(-1)).squeeze(-1)


class LuongGeneralAttention(Attention):
    """General score e_j = q^T W k_j (Luong et al. 2015, eq. 8): W maps key size to query size."""

    def __init__(self, query_size: int, key_size: int) -> None:
        super().__init__()
        self.query_size, self.key_size = query_size, key_size
        self.W = nn.Linear(key_size, query_size, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        return self.W(keys)

    def score(self, query: Tensor, keys: Tensor, projected: Tensor | None) -> Tensor:
        assert projected is not None  # forward computes it with project_keys
        return torch.bmm(projected, query.unsqueeze(-1)).squeeze(-1)


class LuongConcatAttention(Attention):
    """Concat score e_j = v^T tanh(W [q; k_j]) (Luong et al. 2015, eq. 8).

    W is one (A, Hq + Hk) matrix as in the paper; it is applied as its two column blocks so that the
    key half is computed once per batch rather than once per step.
    """

    def __init__(self, query_size: int, key_size: int, attention_size: int | None = None) -> None:
        super().__init__()
        self.query_size, self.key_size = query_size, key_size
        attention_size = attention_size or query_size
        self.W = nn.Linear(query_size + key_size, attention_size, bias=False)
        self.v = nn.Linear(attention_size, 1, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        return F.linear(keys, self.W.weight[:, self.query_size :])

    def score(self, query: Tensor, keys: Tensor, projected: Tensor | None) -> Tensor:
        q = F.linear(query, self.W.weight[:, : self.query_size])
        assert projected is not None  # forward computes it with project_keys
        return self.v(torch.tanh(q.unsqueeze(1) + projected)).squeeze(-1)


AttentionKind = Literal["none", "bahdanau", "luong_dot", "luong_general", "luong_concat"]
ATTENTIONS: dict[AttentionKind, type[Attention]] = {
    "bahdanau": BahdanauAttention,
    "luong_dot": LuongDotAttention,
    "luong_general": LuongGeneralAttention,
    "luong_concat": LuongConcatAttention,
}


def make_attention(name: AttentionKind, query_size: int, key_size: int) -> Attention | None:
    """The attention module called `name` ('none' gives None: the decoder uses a fixed context)."""
    check_choice("attention", name, AttentionKind)
    if name == "none":
        return None
    return ATTENTIONS[name](query_size, key_size)
