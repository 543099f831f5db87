"""How the report writes numbers for people: significant digits, not Python's 17-digit repr.

Metrics get METRIC_DIGITS significant digits with their trailing zeros (0.8800), so a column lines
up; a mean's std decides how many decimals the pair gets, so the std is never rounded away.
Hyperparameter values are shown as typed (1e-3 stays 1e-3), and values a sweeper sampled
(0.002054762512591136) get PARAMETER_DIGITS significant digits. Within a column either kind gets
more digits where fewer would make two different values look the same.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from dlrun.report.collect import as_number

METRIC_DIGITS = 4
PARAMETER_DIGITS = 3
STD_DIGITS = 2  # an uncertainty is known to about two digits at best
MOST_DIGITS = 8  # past this, values that still look alike are written in full
# Fixed-point notation between these magnitudes, exponent notation outside them.
SMALLEST_FIXED = 1e-4
LARGEST_FIXED = 1e15


def significant(value: float, digits: int = METRIC_DIGITS) -> str:
    """`value` with `digits` significant digits, trailing zeros kept: 0.8800, 12.35, 12346, 2.055e-05."""
    if not math.isfinite(value):
        return str(value)  # nan, inf, -inf
    if value != 0 and not SMALLEST_FIXED <= abs(value) < LARGEST_FIXED:
        return f"{value:.{digits - 1}e}"
    return f"{value:.{decimals_for(value, digits)}f}"


def decimals_for(value: float, digits: int) -> int:
    """How many decimals give `value` that many significant digits (0 for whole parts that long)."""
    if value == 0 or not math.isfinite(value):
        return digits - 1
    return max(0, digits - 1 - math.floor(math.log10(abs(value))))


def mean_std(mean: float, std: float | None, digits: int = METRIC_DIGITS) -> str:
    """'0.8800 ± 0.0283': the mean to `digits` significant digits, or further when its std needs it."""
    if std is None:
        return significant(mean, digits)
    if not (math.isfinite(mean) and math.isfinite(std)) or (mean != 0 and abs(mean) < SMALLEST_FIXED):
        return f"{significant(mean, digits)} ± {significant(std, STD_DIGITS)}"
    decimals = decimals_for(mean, digits)
    if std > 0:
        decimals = max(decimals, decimals_for(std, STD_DIGITS))
    return f"{mean:.{decimals}f} ± {std:.{decimals}f}"


def distinct_digits(values: Iterable[float], digits: int = METRIC_DIGITS) -> int:
    """The fewest significant digits, `digits` at least, that keep different values apart."""
    different = {v for v in values if math.isfinite(v)}
    for candidate in range(digits, MOST_DIGITS + 1):
        if len({significant(v, candidate) for v in different}) == len(different):
            return candidate
    return MOST_DIGITS


def parameter_text(value: str, digits: int = PARAMETER_DIGITS) -> str:
    """An override's value for people: as typed unless it is a long sampled float (0.002054762512591136)."""
    number = as_number(value)
    if number is None or written_digits(value) <= digits or re.fullmatch(r"[+-]?\d+", value.strip()):
        return value  # a name, a short number as typed, or a whole number (a width, a batch size)
    return f"{number:.{digits}g}"


def parameter_digits(values: Iterable[str]) -> int:
    """The fewest digits, PARAMETER_DIGITS at least, that show different values of one key apart."""
    numbers = {n for v in values if (n := as_number(v)) is not None}
    for candidate in range(PARAMETER_DIGITS, MOST_DIGITS + 1):
        if len({f"{n:.{candidate}g}" for n in numbers}) == len(numbers):
            return candidate
    return MOST_DIGITS


def written_digits(value: str) -> int:
    """How many significant digits a number is written with: 0.0020547 has 5, 1e-3 and 1000 have 1."""
    mantissa = re.split(r"[eE]", value.strip())[0].lstrip("+-")
    whole, _, fraction = mantissa.partition(".")
    significant_part = (whole + fraction).lstrip("0")
    if not fraction:  # trailing zeros of a whole number say nothing about precision
        significant_part = significant_part.rstrip("0")
    return max(1, len(significant_part))
