"""The seq2seq batch layout, per-batch trimming, and length buckets.

A split (and every batch cut from it) is a dict of five tensors sharing their first dimension N:
- `source`         (N, S) int64, source ids right-padded with PAD;
- `source_lengths` (N,)   int64 CPU, real source tokens (at least 1);
- `target_in`      (N, T) int64, BOS + y, right-padded with PAD (the decoder's teacher-forced input);
- `target_out`     (N, T) int64, y + EOS, right-padded with PAD (what the decoder must emit);
- `target_lengths` (N,)   int64 CPU, len(y) + 1: real steps of both target_in and target_out.
So target_in[:, 1:L] == target_out[:, :L-1], target_out[:, L-1] == EOS and both are PAD from L on.
S is the longest source and T the longest target + 1 of the pairs encoded together.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, TypeGuard

import numpy as np
import torch
from torch import Tensor

from dlrun.data.seq2seq.vocabulary import BOS_ID, EOS_ID, PAD_ID
from dlrun.data.text_vocabulary import Vocabulary
from dlrun.errors import ConfigError

SOURCE, SOURCE_LENGTHS = "source", "source_lengths"
TARGET_IN, TARGET_OUT, TARGET_LENGTHS = "target_in", "target_out", "target_lengths"
SEQ2SEQ_KEYS = (SOURCE, SOURCE_LENGTHS, TARGET_IN, TARGET_OUT, TARGET_LENGTHS)
# Kept on the CPU, where pack_padded_sequence reads lengths.
SEQ2SEQ_LENGTH_KEYS = (SOURCE_LENGTHS, TARGET_LENGTHS)

Pair = tuple[Sequence[str], Sequence[str]]


def encode_pairs(pairs: Sequence[Pair], source_vocab: Vocabulary, target_vocab: Vocabulary) -> dict[str, Tensor]:
    """(source tokens, target tokens) pairs -> the five tensors of the layout above (CPU int64)."""
    if not pairs:
        raise ValueError("encode_pairs needs at least one pair")
    sources = [source_vocab.encode(s) for s, _ in pairs]
    targets = [target_vocab.encode(t) for _, t in pairs]
    if any(len(s) == 0 for s in sources):
        raise ValueError("every source needs at least one token (packing cannot take an empty sequence)")
    n = len(pairs)
    source_lengths = np.fromiter((len(s) for s in sources), dtype=np.int64, count=n)
    target_lengths = np.fromiter((len(t) + 1 for t in targets), dtype=np.int64, count=n)
    width = int(target_lengths.max())
    source = np.full((n, int(source_lengths.max())), PAD_ID, dtype=np.int64)
    target_in = np.full((n, width), PAD_ID, dtype=np.int64)
    target_out = np.full((n, width), PAD_ID, dtype=np.int64)
    # Scatter all tokens at once: row i, columns 0..len-1.
    source[np.repeat(np.arange(n), source_lengths), _positions(source_lengths)] = np.fromiter(
        (i for s in sources for i in s), dtype=np.int64, count=int(source_lengths.sum())
    )
    rows, columns = np.repeat(np.arange(n), target_lengths), _positions(target_lengths)
    target_in[rows, columns] = np.fromiter((i for t in targets for i in (BOS_ID, *t)), dtype=np.int64, count=len(rows))
    target_out[rows, columns] = np.fromiter((i for t in targets for i in (*t, EOS_ID)), dtype=np.int64, count=len(rows))
    return {
        SOURCE: torch.from_numpy(source),
        SOURCE_LENGTHS: torch.from_numpy(source_lengths),
        TARGET_IN: torch.from_numpy(target_in),
        TARGET_OUT: torch.from_numpy(target_out),
        TARGET_LENGTHS: torch.from_numpy(target_lengths),
    }


def _positions(lengths: np.ndarray) -> np.ndarray:
    """0..len-1 for each length, concatenated."""
    starts = np.cumsum(lengths) - lengths
    return np.arange(int(lengths.sum())) - np.repeat(starts, lengths)


# ---------------------------------------------------------------------------------------------
# Length buckets ("5-14", "15-24", ...), by source length, for the per-length metrics.

_BUCKET = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")
BUCKETS_KEY = "data.length_buckets"


def parse_length_buckets(spec: object) -> list[tuple[int, int]]:
    """Buckets as sorted, non-overlapping inclusive (low, high) ranges.

    Accepts a list whose items are "5-14" strings, a single length ("7" or 7), or [low, high] pairs;
    or one string of comma-separated ranges ("5-14,15-24"). Gaps between buckets are allowed.
    """
    if isinstance(spec, str):
        items: list[object] = [part for part in spec.split(",") if part.strip()]
    elif isinstance(spec, Sequence) or _is_list_config(spec):
        items = list(spec)
    else:
        raise ConfigError(
            f"{BUCKETS_KEY} must be a list of ranges such as [5-14, 15-24] (or [[5, 14], [15, 24]]); got {spec!r}."
        )
    if not items:
        raise ConfigError(f"{BUCKETS_KEY} is empty; give ranges such as [5-14, 15-24], or leave it null for defaults.")
    buckets = [_parse_bucket(item) for item in items]
    for (low, high), (next_low, next_high) in zip(buckets, buckets[1:]):
        if next_low <= high:
            problem = "overlap" if next_high >= low else "are not sorted"
            raise ConfigError(
                f"{BUCKETS_KEY}: the ranges {low}-{high} and {next_low}-{next_high} {problem}. List the buckets "
                f"in increasing order with no length in two of them, e.g. [5-14, 15-24, 25-34]."
            )
    return buckets


def _parse_bucket(item: object) -> tuple[int, int]:
    if isinstance(item, int) and not isinstance(item, bool):
        low = high = item
    elif isinstance(item, str) and (match := _BUCKET.match(item)):
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
    elif (isinstance(item, Sequence) or _is_list_config(item)) and not isinstance(item, str) and len(item) == 2:
        low, high = item
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)):
            raise ConfigError(f"{BUCKETS_KEY}: a bucket [low, high] takes two whole numbers; got {list(item)!r}.")
    else:
        raise ConfigError(f"{BUCKETS_KEY}: cannot read the bucket {item!r}; write it as 'low-high', e.g. '5-14'.")
    if low < 1 or high < low:
        raise ConfigError(
            f"{BUCKETS_KEY}: the bucket {low}-{high} is empty or starts below length 1; write 'low-high' with "
            f"1 <= low <= high."
        )
    return int(low), int(high)


def _is_list_config(value: object) -> TypeGuard[Sequence[Any]]:  # omegaconf's ListConfig is a MutableSequence
    return type(value).__name__ == "ListConfig"


def default_length_buckets(min_length: int, max_length: int, width: int = 10) -> list[tuple[int, int]]:
    """[min, min+width-1], [min+width, ...], ..., the last one cut at max: 5..50 -> 5-14, ..., 45-50."""
    return [(low, min(low + width - 1, max_length)) for low in range(min_length, max_length + 1, width)]


def bucket_name(bucket: tuple[int, int]) -> str:
    low, high = bucket
    return f"{low}-{high}" if low != high else str(low)


def assign_buckets(lengths: Tensor | Sequence[int], buckets: Sequence[tuple[int, int]]) -> Tensor:
    """Index of each example's bucket by its (source) length, -1 where no bucket holds it. int64 (N,)."""
    lengths = torch.as_tensor(lengths, dtype=torch.int64).cpu()
    index = torch.full_like(lengths, -1)
    for i, (low, high) in enumerate(buckets):
        index[(lengths >= low) & (lengths <= high)] = i
    return index
