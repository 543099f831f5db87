"""Procedural seq2seq problems, generated from a seed with no files.

Generators are pure functions of a numpy Generator; each returns `count` pairs
(source_tokens, target_tokens), lists of strings:
- `copy`:    a random sequence of symbols -> itself;
- `reverse`: a random sequence -> the same reversed (JoeyNMT's reverse problem);
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
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from dlrun.errors import unknown_choice

Tokens = list[str]
Pairs = list[tuple[Tokens, Tokens]]

# ---------------------------------------------------------------------------------------------
# Symbol problems


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
    """ "a+b" -> str(a + b), characters; each operand with min_length..max_length digits."""
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


def operand_count(width: int) -> int:
    """How many operands have `width` digits: no leading zero, and 0 is a one-digit number."""
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
# Problems: generator, symbols, and the size of a source's "shape" (for overlap avoidance)


@dataclass(frozen=True)
class ProblemInfo:
    uses_vocab_size: bool
    uses_lengths: bool


Seq2SeqProblem = Literal["reverse", "copy", "sort", "addition", "dates"]
PROBLEMS: dict[Seq2SeqProblem, ProblemInfo] = {
    "reverse": ProblemInfo(True, True),
    "copy": ProblemInfo(True, True),
    "sort": ProblemInfo(True, True),
    "addition": ProblemInfo(False, True),
    "dates": ProblemInfo(False, False),
}


def generate(
    problem: str, rng: np.random.Generator, count: int, vocab_size: int, min_length: int, max_length: int
) -> Pairs:
    """`count` pairs of `problem`; arguments that do not apply to the problem are ignored."""
    if problem in ("reverse", "copy", "sort"):
        return {"reverse": reverse, "copy": copy, "sort": sort}[problem](rng, count, vocab_size, min_length, max_length)
    if problem == "addition":
        return addition(rng, count, min_length, max_length)
    if problem == "dates":
        return dates(rng, count)
    raise unknown_choice("data.problem", problem, PROBLEMS)


def problem_symbols(problem: str, vocab_size: int) -> tuple[list[str], list[str]]:
    """The source and target symbols every pair of the problem is made of (fixed, not learnt from data)."""
    if problem in ("reverse", "copy", "sort"):
        return symbols(vocab_size), symbols(vocab_size)
    if problem == "addition":
        return [*"0123456789", "+"], list("0123456789")
    if problem == "dates":
        return _date_symbols(), list("0123456789-")
    raise unknown_choice("data.problem", problem, PROBLEMS)
