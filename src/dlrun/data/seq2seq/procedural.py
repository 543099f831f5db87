"""The data module of the procedural seq2seq problems (data=reverse, copy, sort, addition, dates):
splits generated from a seed with no files, kept apart where the space of sources allows.

The problems and their generators are in dlrun.data.seq2seq.generators.

Splits (train, val, test) come from three children of SeedSequence(generator_seed), one each, so a
split depends only on its own size and settings (a larger train_size leaves val and test as they
were), and a larger split starts with the examples of a smaller one (draws come in fixed chunks).
Training pairs use [min_length, max_length], val and test [eval_min_length, eval_max_length].

Overlap between splits is avoided where the space allows, without one split looking at another:
every possible source is assigned to one split by a keyed hash of its tokens (TRAIN_SHARE of the
space to train, the rest halved between val and test) and a split keeps only draws from its own
share (rejection). Where the "shape" of a source (its length; for addition the two operand widths)
has fewer than MIN_PARTITIONED_SPACE possible sources, a split cannot have a share of its own
worth the name: such draws are kept by a coin with the split's share instead, so lengths stay
uniform, and the sources that then repeat across splits are counted in `overlap` (and logged).
For reverse over 10 symbols at length 5 (100,000 sources) the splits are disjoint; at lengths 1-2
they may share sources, as there are only 10 and 100 of them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlrun.checks import check_generated_data, check_number
from dlrun.choices import check_config_choice
from dlrun.data.in_memory import SPLITS
from dlrun.data.loader import Batch
from dlrun.data.seq2seq.generators import PROBLEMS, Pairs, Seq2SeqProblem, generate, operand_count, problem_symbols
from dlrun.data.seq2seq.module import Seq2SeqDataModule
from dlrun.data.seq2seq.vocabulary import symbol_vocabulary
from dlrun.data.spec import DataSpec
from dlrun.errors import ConfigError

log = logging.getLogger(__name__)


def shape_space(problem: str, source: Sequence[str], vocab_size: int) -> float:
    """How many sources share this source's shape (length; operand widths for addition)."""
    if problem in ("reverse", "copy", "sort"):
        return float(vocab_size) ** len(source)
    if problem == "addition":
        left, right = "".join(source).split("+")
        return float(operand_count(len(left)) * operand_count(len(right)))
    return math.inf  # dates: 36,525 days in each of many formats


# ---------------------------------------------------------------------------------------------
# Splits

TRAIN_SHARE = 0.8  # of the source space; val and test get (1 - TRAIN_SHARE) / 2 each
MIN_PARTITIONED_SPACE = 1000
DRAW_CHUNK = 1024
_SHARES = {
    "train": (0.0, TRAIN_SHARE),
    "val": (TRAIN_SHARE, (1 + TRAIN_SHARE) / 2),
    "test": ((1 + TRAIN_SHARE) / 2, 1.0),
}


def source_share(source: Sequence[str], generator_seed: int) -> float:
    """A keyed hash of the source in [0, 1): which split's share of the space it belongs to."""
    key = hashlib.blake2b("\x1f".join(source).encode(), digest_size=8, key=str(generator_seed).encode()).digest()
    return int.from_bytes(key, "big") / 2**64


@dataclass(frozen=True)
class Seq2SeqSplits:
    """How the three splits of a procedural problem are drawn (see the module's docstring)."""

    problem: str
    vocab_size: int
    min_length: int
    max_length: int
    eval_min_length: int
    eval_max_length: int
    train_size: int
    val_size: int
    test_size: int
    generator_seed: int = 0

    def size(self, split: str) -> int:
        return {"train": self.train_size, "val": self.val_size, "test": self.test_size}[split]

    def lengths(self, split: str) -> tuple[int, int]:
        return (self.min_length, self.max_length) if split == "train" else (self.eval_min_length, self.eval_max_length)

    def split(self, split: str, stream: np.random.SeedSequence) -> Pairs:
        """`size(split)` pairs from the split's own stream, drawn from its share of the source space."""
        rng = np.random.default_rng(stream)
        low, high = _SHARES[split]
        share = high - low
        wanted = self.size(split)
        min_length, max_length = self.lengths(split)
        kept: Pairs = []
        while len(kept) < wanted:
            # Fixed-size chunks: a larger split starts with the examples of a smaller one.
            draws = generate(self.problem, rng, DRAW_CHUNK, self.vocab_size, min_length, max_length)
            coins = rng.random(len(draws))
            for (source, target), coin in zip(draws, coins):
                if shape_space(self.problem, source, self.vocab_size) >= MIN_PARTITIONED_SPACE:
                    keep = low <= source_share(source, self.generator_seed) < high
                else:
                    keep = coin < share
                if keep:
                    kept.append((source, target))
                    if len(kept) == wanted:
                        break
        return kept

    def all_splits(self) -> dict[str, Pairs]:
        streams = np.random.SeedSequence(self.generator_seed).spawn(len(SPLITS))
        return {name: self.split(name, stream) for name, stream in zip(SPLITS, streams)}


# ---------------------------------------------------------------------------------------------
# The data module

SEQ2SEQ_VOCAB_FILE = "seq2seq_vocab.json"


class ProceduralSeq2SeqDataModule(Seq2SeqDataModule):
    """A procedural seq2seq problem (see the module's docstring), served in the seq2seq batch layout
    (dlrun.data.seq2seq.batches): source, source_lengths, target_in, target_out, target_lengths.

    `vocab` (a Seq2SeqVocab) says the two sides' sizes and PAD/UNK/BOS/EOS ids; `source_vocab` and
    `target_vocab` map tokens to ids; `pairs[split]` keeps the token pairs (references for BLEU);
    `overlap` counts val/test sources also in train; `length_buckets` are the per-length metric
    buckets by source length (defaults: width 10 over the evaluation source lengths).
    `options` (batch_size, eval_batch_size, steps_per_execution, bucket_pool_batches) go to
    InMemoryDataModule untouched.
    """

    def __init__(
        self,
        problem: Seq2SeqProblem = "reverse",
        vocab_size: int = 10,
        min_length: int = 5,
        max_length: int = 10,
        eval_min_length: int | None = None,
        eval_max_length: int | None = None,
        train_size: int = 10000,
        val_size: int = 1000,
        test_size: int = 1000,
        length_buckets: object = None,
        generator_seed: int = 0,
        **options,
    ) -> None:
        super().__init__(length_buckets=length_buckets, **options)
        check_config_choice("data.problem", problem, Seq2SeqProblem)
        info = PROBLEMS[problem]
        if info.uses_vocab_size:
            check_number(
                "data.vocab_size",
                vocab_size,
                at_least=2,
                whole=True,
                unit="symbols",
                meaning=f"for the {problem} problem",
            )
        eval_min_length = min_length if eval_min_length is None else eval_min_length
        eval_max_length = max_length if eval_max_length is None else eval_max_length
        if info.uses_lengths:
            unit = "digits per operand" if problem == "addition" else "symbols"
            for key, value in (
                ("min_length", min_length),
                ("max_length", max_length),
                ("eval_min_length", eval_min_length),
                ("eval_max_length", eval_max_length),
            ):
                check_number(f"data.{key}", value, at_least=1, whole=True, unit=unit)
            for prefix, low, high in (("", min_length, max_length), ("eval_", eval_min_length, eval_max_length)):
                if low > high:
                    raise ConfigError(
                        f"data.{prefix}min_length ({low}) is above data.{prefix}max_length ({high}); lengths are "
                        f"drawn uniformly from [{prefix}min_length, {prefix}max_length]."
                    )
        check_generated_data(train_size, val_size, test_size, generator_seed)
        self.problem = problem
        self.splits = Seq2SeqSplits(
            problem,
            int(vocab_size) if info.uses_vocab_size else 0,
            int(min_length) if info.uses_lengths else 0,
            int(max_length) if info.uses_lengths else 0,
            int(eval_min_length) if info.uses_lengths else 0,
            int(eval_max_length) if info.uses_lengths else 0,
            int(train_size),
            int(val_size),
            int(test_size),
            int(generator_seed),
        )
        source_symbols, target_symbols = problem_symbols(problem, self.splits.vocab_size)
        self.source_vocab = symbol_vocabulary(source_symbols)
        self.target_vocab = symbol_vocabulary(target_symbols)

    def eval_length_range(self) -> tuple[int, int]:
        s = self.splits
        if self.problem in ("reverse", "copy", "sort"):
            return s.eval_min_length, s.eval_max_length
        if self.problem == "addition":
            return 2 * s.eval_min_length + 1, 2 * s.eval_max_length + 1
        return super().eval_length_range()

    def tokenize_source(self, text: str) -> list[str]:
        """A source typed by a user as this problem's tokens: symbols split on spaces, else characters."""
        return text.split() if PROBLEMS[self.problem].uses_vocab_size else list(text)

    def join_target(self, tokens: list[str]) -> str:
        """Output tokens as text, the way tokenize_source reads them."""
        return " ".join(tokens) if PROBLEMS[self.problem].uses_vocab_size else "".join(tokens)

    def load(self) -> tuple[dict[str, Batch], DataSpec]:
        served = self.serve(self.splits.all_splits(), self.source_vocab, self.target_vocab)
        if any(self._overlap.values()):
            log.info(
                "%s: %d val and %d test examples have a source that is also in train (short lengths have too "
                "few distinct sources to keep the splits apart).",
                self.problem,
                self._overlap["val"],
                self._overlap["test"],
            )
        return served

    def save_preprocessing(self, directory: Path) -> None:
        data = {
            "problem": self.problem,
            "source": self.source_vocab.to_json(),
            "target": self.target_vocab.to_json(),
        }
        Path(directory, SEQ2SEQ_VOCAB_FILE).write_text(json.dumps(data, indent=1) + "\n")
