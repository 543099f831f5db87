"""Procedural seq2seq tasks, generated from a seed with no files, and their data module.

Generators are pure functions of a numpy Generator; each returns `count` pairs
(source_tokens, target_tokens), lists of strings:
- `copy`:    a random sequence of symbols -> itself;
- `reverse`: a random sequence -> the same reversed (JoeyNMT's reverse task);
- `sort`:    a random sequence -> its symbols sorted by id (Sockeye's sort test);
  symbols are "0", "1", ..., str(vocab_size - 1), one token each (so "12" is one symbol when
  vocab_size > 12); lengths uniform in [min_length, max_length];
- `addition`: "535+61" -> "596", one token per character; each operand has a number of digits
  uniform in [min_length, max_length] (no leading zero; one-digit operands may be 0), so the
  source is 2 * min_length + 1 .. 2 * max_length + 1 characters long;
- `dates`: a date drawn uniformly from 1950-01-01 .. 2049-12-31, written in one of DATE_FORMATS
  (drawn uniformly) -> ISO "YYYY-MM-DD", one token per character. Two-digit years are read in the
  1950-2049 window (98 -> 1998, 03 -> 2003), so every source means exactly one date; slash dates
  are US month/day ("03/04/98" is March 4), dotted dates European day.month ("4.3.1998" is March 4).
  Month and day names are English and built in (no locale). `to_iso=False` gives the other
  direction (ISO -> human format), equally deterministic; the length settings do not apply.

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

import datetime
import hashlib
import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlrun.data.in_memory import SPLITS
from dlrun.data.loader import Batch
from dlrun.data.seq2seq.module import Seq2SeqDataModule
from dlrun.data.seq2seq.vocabulary import SymbolVocabulary
from dlrun.data.spec import DataSpec
from dlrun.errors import ConfigError, unknown_choice

log = logging.getLogger(__name__)

Tokens = list[str]
Pairs = list[tuple[Tokens, Tokens]]

# ---------------------------------------------------------------------------------------------
# Symbol tasks


def symbols(vocab_size: int) -> list[str]:
    return [str(i) for i in range(vocab_size)]


def _random_sequences(rng: np.random.Generator, count: int, vocab_size: int, min_length: int, max_length: int):
    lengths = rng.integers(min_length, max_length + 1, size=count)
    values = rng.integers(0, vocab_size, size=(count, max_length)).tolist()
    return [row[:length] for row, length in zip(values, lengths.tolist())]


def copy(
    rng: np.random.Generator, count: int, vocab_size: int = 10, min_length: int = 5, max_length: int = 10
) -> Pairs:
    """Random symbol sequences -> themselves."""
    names = symbols(vocab_size)
    pairs = []
    for seq in _random_sequences(rng, count, vocab_size, min_length, max_length):
        tokens = [names[v] for v in seq]
        pairs.append((tokens, list(tokens)))
    return pairs


def reverse(
    rng: np.random.Generator, count: int, vocab_size: int = 10, min_length: int = 5, max_length: int = 10
) -> Pairs:
    """Random symbol sequences -> reversed."""
    names = symbols(vocab_size)
    pairs = []
    for seq in _random_sequences(rng, count, vocab_size, min_length, max_length):
        tokens = [names[v] for v in seq]
        pairs.append((tokens, tokens[::-1]))
    return pairs


def sort(
    rng: np.random.Generator, count: int, vocab_size: int = 10, min_length: int = 5, max_length: int = 10
) -> Pairs:
    """Random symbol sequences -> sorted by symbol id (numerically: "2" before "10")."""
    names = symbols(vocab_size)
    return [
        ([names[v] for v in seq], [names[v] for v in sorted(seq)])
        for seq in _random_sequences(rng, count, vocab_size, min_length, max_length)
    ]


# ---------------------------------------------------------------------------------------------
# Addition


def addition(rng: np.random.Generator, count: int, min_length: int = 1, max_length: int = 3) -> Pairs:
    """"a+b" -> str(a + b), characters; each operand with min_length..max_length digits."""
    widths = rng.integers(min_length, max_length + 1, size=(count, 2))
    digits = rng.integers(0, 10, size=(count, 2, max_length))
    leading = rng.integers(1, 10, size=(count, 2))
    pairs = []
    for i in range(count):
        operands = []
        for j in range(2):
            width = int(widths[i, j])
            row = digits[i, j, :width].copy()
            if width > 1:
                row[0] = leading[i, j]
            operands.append("".join(str(d) for d in row))
        total = int(operands[0]) + int(operands[1])
        pairs.append((list(f"{operands[0]}+{operands[1]}"), list(str(total))))
    return pairs


def _operand_count(width: int) -> int:
    return 10 if width == 1 else 9 * 10 ** (width - 1)


# ---------------------------------------------------------------------------------------------
# Dates

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FIRST_DATE, LAST_DATE = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _month(d: datetime.date) -> str:
    return MONTHS[d.month - 1]


# name -> formatter; the examples show 1998-03-03 (a Tuesday).
DATE_FORMATS: dict[str, Callable[[datetime.date], str]] = {
    "d MMMM yyyy": lambda d: f"{d.day} {_month(d)} {d.year}",  # 3 March 1998
    "MMMM d, yyyy": lambda d: f"{_month(d)} {d.day}, {d.year}",  # March 3, 1998
    "mm/dd/yy": lambda d: f"{d.month:02d}/{d.day:02d}/{d.year % 100:02d}",  # 03/03/98
    "EEEE, MMMM d, yyyy": lambda d: f"{WEEKDAYS[d.weekday()]}, {_month(d)} {d.day}, {d.year}",  # Tuesday, March 3, 1998
    "yyyy-m-d": lambda d: f"{d.year}-{d.month}-{d.day}",  # 1998-3-3
    "d.m.yyyy": lambda d: f"{d.day}.{d.month}.{d.year}",  # 3.3.1998
    "mmm d yy": lambda d: f"{_month(d)[:3].lower()} {d.day} {d.year % 100:02d}",  # mar 3 98
    "dd MMM yyyy": lambda d: f"{d.day:02d} {_month(d)[:3]} {d.year}",  # 03 Mar 1998
    "m/d/yyyy": lambda d: f"{d.month}/{d.day}/{d.year}",  # 3/3/1998
    "EEE d MMM yyyy": lambda d: f"{WEEKDAYS[d.weekday()][:3]} {d.day} {_month(d)[:3]} {d.year}",  # Tue 3 Mar 1998
    "MMMM dth, yyyy": lambda d: f"{_month(d)} {_ordinal(d.day)}, {d.year}",  # March 3rd, 1998
    "dd.mm.yy": lambda d: f"{d.day:02d}.{d.month:02d}.{d.year % 100:02d}",  # 03.03.98
    "D MMMM YYYY": lambda d: f"{d.day} {_month(d).upper()} {d.year}",  # 3 MARCH 1998
    "yyyymmdd": lambda d: f"{d.year}{d.month:02d}{d.day:02d}",  # 19980303
}


def dates(rng: np.random.Generator, count: int, to_iso: bool = True) -> Pairs:
    """Dates 1950-2049 in human formats -> ISO YYYY-MM-DD (or the reverse with to_iso=False)."""
    days = rng.integers(FIRST_DATE.toordinal(), LAST_DATE.toordinal() + 1, size=count)
    formats = rng.integers(0, len(DATE_FORMATS), size=count)
    formatters = list(DATE_FORMATS.values())
    pairs = []
    for day, fmt in zip(days, formats):
        d = datetime.date.fromordinal(int(day))
        human, iso = list(formatters[fmt](d)), list(d.isoformat())
        pairs.append((human, iso) if to_iso else (iso, human))
    return pairs


def _date_symbols() -> list[str]:
    sample = [datetime.date(2000, m, 28) for m in range(1, 13)] + [datetime.date(2001, 1, d) for d in range(1, 8)]
    chars = {c for d in sample for f in DATE_FORMATS.values() for c in f(d)} | set("0123456789-")
    return sorted(chars)


# ---------------------------------------------------------------------------------------------
# Tasks: generator, symbols, and the size of a source's "shape" (for overlap avoidance)


@dataclass(frozen=True)
class TaskInfo:
    uses_vocab_size: bool
    uses_lengths: bool


TASKS: dict[str, TaskInfo] = {
    "reverse": TaskInfo(True, True),
    "copy": TaskInfo(True, True),
    "sort": TaskInfo(True, True),
    "addition": TaskInfo(False, True),
    "dates": TaskInfo(False, False),
}


def generate(
    task: str, rng: np.random.Generator, count: int, vocab_size: int, min_length: int, max_length: int
) -> Pairs:
    """`count` pairs of `task`; arguments that do not apply to the task are ignored."""
    if task in ("reverse", "copy", "sort"):
        return {"reverse": reverse, "copy": copy, "sort": sort}[task](rng, count, vocab_size, min_length, max_length)
    if task == "addition":
        return addition(rng, count, min_length, max_length)
    if task == "dates":
        return dates(rng, count)
    raise unknown_choice("data.task", task, TASKS)


def task_symbols(task: str, vocab_size: int) -> tuple[list[str], list[str]]:
    """The source and target symbols every pair of the task is made of (fixed, not learnt from data)."""
    if task in ("reverse", "copy", "sort"):
        return symbols(vocab_size), symbols(vocab_size)
    if task == "addition":
        return [*"0123456789", "+"], list("0123456789")
    if task == "dates":
        return _date_symbols(), list("0123456789-")
    raise unknown_choice("data.task", task, TASKS)


def shape_space(task: str, source: Sequence[str], vocab_size: int) -> float:
    """How many sources share this source's shape (length; operand widths for addition)."""
    if task in ("reverse", "copy", "sort"):
        return float(vocab_size) ** len(source)
    if task == "addition":
        left, right = "".join(source).split("+")
        return float(_operand_count(len(left)) * _operand_count(len(right)))
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
    """How the three splits of a procedural task are drawn (see the module's docstring)."""

    task: str
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
            draws = generate(self.task, rng, DRAW_CHUNK, self.vocab_size, min_length, max_length)
            coins = rng.random(len(draws))
            for (source, target), coin in zip(draws, coins):
                if shape_space(self.task, source, self.vocab_size) >= MIN_PARTITIONED_SPACE:
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
    """A procedural seq2seq task (see the module's docstring), served in the seq2seq batch layout
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
        task: str = "reverse",
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
        if task not in TASKS:
            raise unknown_choice("data.task", task, TASKS)
        info = TASKS[task]
        if info.uses_vocab_size and (not _is_whole(vocab_size) or vocab_size < 2):
            raise ConfigError(
                f"data.vocab_size must be a whole number of symbols, at least 2, for the {task} task; got {vocab_size}."
            )
        eval_min_length = min_length if eval_min_length is None else eval_min_length
        eval_max_length = max_length if eval_max_length is None else eval_max_length
        if info.uses_lengths:
            unit = "digits per operand" if task == "addition" else "symbols"
            for key, value in (
                ("min_length", min_length),
                ("max_length", max_length),
                ("eval_min_length", eval_min_length),
                ("eval_max_length", eval_max_length),
            ):
                if not _is_whole(value) or value < 1:
                    raise ConfigError(f"data.{key} must be a whole number of {unit}, at least 1; got {value}.")
            for prefix, low, high in (("", min_length, max_length), ("eval_", eval_min_length, eval_max_length)):
                if low > high:
                    raise ConfigError(
                        f"data.{prefix}min_length ({low}) is above data.{prefix}max_length ({high}); lengths are "
                        f"drawn uniformly from [{prefix}min_length, {prefix}max_length]."
                    )
        for key, value in (("train_size", train_size), ("val_size", val_size), ("test_size", test_size)):
            if not _is_whole(value) or value < 1:
                raise ConfigError(
                    f"data.{key} must be a whole number of examples, at least 1; got {value}. (The examples are "
                    f"generated, so any size works: e.g. data.train_size=10000, data.val_size=1000.)"
                )
        if not _is_whole(generator_seed) or generator_seed < 0:
            raise ConfigError(
                f"data.generator_seed must be a whole number >= 0 that seeds the generated examples; "
                f"got {generator_seed}."
            )
        self.task = task
        self.splits = Seq2SeqSplits(
            task,
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
        source_symbols, target_symbols = task_symbols(task, self.splits.vocab_size)
        self.source_vocab = SymbolVocabulary(source_symbols)
        self.target_vocab = SymbolVocabulary(target_symbols)

    def eval_length_range(self) -> tuple[int, int]:
        s = self.splits
        if self.task in ("reverse", "copy", "sort"):
            return s.eval_min_length, s.eval_max_length
        if self.task == "addition":
            return 2 * s.eval_min_length + 1, 2 * s.eval_max_length + 1
        return super().eval_length_range()

    def tokenize_source(self, text: str) -> list[str]:
        """A source typed by a user as this task's tokens: symbols split on spaces, else characters."""
        return text.split() if TASKS[self.task].uses_vocab_size else list(text)

    def join_target(self, tokens: list[str]) -> str:
        """Output tokens as text, the way tokenize_source reads them."""
        return " ".join(tokens) if TASKS[self.task].uses_vocab_size else "".join(tokens)

    def load(self) -> tuple[dict[str, Batch], DataSpec]:
        served = self.serve(self.splits.all_splits(), self.source_vocab, self.target_vocab)
        if any(self._overlap.values()):
            log.info(
                "%s: %d val and %d test examples have a source that is also in train (short lengths have too "
                "few distinct sources to keep the splits apart).",
                self.task,
                self._overlap["val"],
                self._overlap["test"],
            )
        return served

    def save_preprocessing(self, directory: Path) -> None:
        data = {
            "task": self.task,
            "source": self.source_vocab.to_json(),
            "target": self.target_vocab.to_json(),
        }
        Path(directory, SEQ2SEQ_VOCAB_FILE).write_text(json.dumps(data, indent=1) + "\n")


def _is_whole(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)
