"""Turning per-frame CTC log-probabilities into label sequences: greedy and prefix beam search.

Both take `log_probs` (N, T, V), each frame a log-distribution over the V labels with `blank` among
them, and `lengths` (N,), the real frames of each right-padded example; frames past a length are
never read. Both return one list of label ids per example, blanks removed.

Greedy decoding takes the most likely label of every frame, merges repeats and drops blanks: the
labelling of the single most likely path. That is not the most likely labelling, which sums over
every path that collapses to it; prefix beam search (Graves 2006 section 3.2, in the form of Hannun
et al. 2014, "First-Pass Large Vocabulary Continuous Speech Recognition using Bi-Directional
Recurrent DNNs") keeps the `beam_width` most likely prefixes with, for each, the probability of the
paths ending in a blank and of those ending in its last label, so paths that merge into one labelling
are added up. With a beam as wide as the number of prefixes it is exact.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

NEG_INF = float("-inf")


def greedy_decode(log_probs: Tensor, lengths: Tensor, blank: int = 0) -> list[list[int]]:
    """Best path decoding: per frame the argmax, repeats merged, blanks dropped."""
    _check(log_probs, lengths, blank)
    best = log_probs.argmax(dim=-1)  # (N, T)
    frames = torch.arange(best.shape[1], device=best.device)
    real = frames[None, :] < lengths.to(best.device)[:, None]
    best = best.masked_fill(~real, blank)
    # A label is emitted where it differs from the frame before; "a blank a" stays two a's, since the
    # blank between them differs from both.
    previous = torch.nn.functional.pad(best[:, :-1], (1, 0), value=blank)
    emitted = (best != blank) & (best != previous)
    return [row[keep].tolist() for row, keep in zip(best.cpu(), emitted.cpu())]


def prefix_beam_search(log_probs: Tensor, lengths: Tensor, beam_width: int, blank: int = 0) -> list[list[int]]:
    """The most likely labelling found by CTC prefix beam search with `beam_width` prefixes kept."""
    _check(log_probs, lengths, blank)
    if not isinstance(beam_width, int) or isinstance(beam_width, bool) or beam_width < 1:
        raise ValueError(f"beam_width must be a whole number >= 1, got {beam_width!r}")
    rows = log_probs.detach().double().cpu()
    return [_search(rows[i, : int(length)].tolist(), beam_width, blank) for i, length in enumerate(lengths.tolist())]


def decode(log_probs: Tensor, lengths: Tensor, beam_width: int = 1, blank: int = 0) -> list[list[int]]:
    """Greedy decoding for `beam_width` 1, prefix beam search for wider beams."""
    if beam_width == 1:
        return greedy_decode(log_probs, lengths, blank)
    return prefix_beam_search(log_probs, lengths, beam_width, blank)


def _search(frames: list[list[float]], beam_width: int, blank: int) -> list[int]:
    # prefix -> (log P(paths so far that collapse to prefix and end in a blank), ... end in its last label)
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, NEG_INF)}
    for frame in frames:
        grown: dict[tuple[int, ...], list[float]] = {}
        for prefix, (ends_blank, ends_label) in beams.items():
            total = _add(ends_blank, ends_label)
            last = prefix[-1] if prefix else None
            for label, p in enumerate(frame):
                if p == NEG_INF:
                    continue
                if label == blank:
                    entry = grown.setdefault(prefix, [NEG_INF, NEG_INF])
                    entry[0] = _add(entry[0], total + p)
                    continue
                longer = grown.setdefault(prefix + (label,), [NEG_INF, NEG_INF])
                if label == last:
                    # A repeat right after its label merges into it; only after a blank is it a new label.
                    longer[1] = _add(longer[1], ends_blank + p)
                    same = grown.setdefault(prefix, [NEG_INF, NEG_INF])
                    same[1] = _add(same[1], ends_label + p)
                else:
                    longer[1] = _add(longer[1], total + p)
        ranked = sorted(grown.items(), key=lambda item: _add(*item[1]), reverse=True)[:beam_width]
        beams = {prefix: (blank, non_blank) for prefix, (blank, non_blank) in ranked}
    best = max(beams.items(), key=lambda item: _add(*item[1]))[0]
    return list(best)


def _add(a: float, b: float) -> float:
    """log(exp(a) + exp(b)) without leaving log space."""
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    high, low = (a, b) if a > b else (b, a)
    return high + math.log1p(math.exp(low - high))


def _check(log_probs: Tensor, lengths: Tensor, blank: int) -> None:
    if log_probs.dim() != 3:
        raise ValueError(f"log_probs must be (batch, frames, labels), got shape {tuple(log_probs.shape)}")
    if lengths.shape != (log_probs.shape[0],):
        raise ValueError(
            f"lengths must hold one length per example ({log_probs.shape[0]}), got shape {tuple(lengths.shape)}"
        )
    if len(lengths) and (int(lengths.min()) < 0 or int(lengths.max()) > log_probs.shape[1]):
        raise ValueError(f"lengths must be between 0 and the {log_probs.shape[1]} frames served")
    if not 0 <= blank < log_probs.shape[2]:
        raise ValueError(f"blank must be a label id in [0, {log_probs.shape[2]}), got {blank}")
