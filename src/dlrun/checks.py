"""Checks written once for the code that builds a run's parts (data, tasks, callbacks, training): a
path that must exist, and a number that must lie in a range.

Each raises the caller's error class (ConfigError for data settings, ValueError for plain classes
built directly) naming the value as the caller does, in one paragraph that says what is wrong and
what would be right. The config checker (config/value_rules.py) checks a composed config before any
of these run; these hold for code that builds the parts itself.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TypeGuard

import numpy as np

from dlrun.errors import ConfigError


def missing_path(what: str, path: object, hint: str = "", error: type[Exception] = ConfigError) -> Exception:
    """The error for a path that is not there. `what` names it as the user gave it ("data.path",
    "INPUT"), `hint` says what it should point at. Relative paths start from the working dir, which a
    user who ran from elsewhere (a notebook, a job script) may not expect, so the message names it."""
    message = f"{what} '{path}' does not exist (relative paths start from {Path.cwd()})."
    return error(f"{message} {hint}" if hint else message)


def check_exists(path: Path | str, what: str, hint: str = "", error: type[Exception] = ConfigError) -> None:
    """Raise `missing_path(...)` unless `path` exists (a file, a folder or anything else)."""
    if not Path(path).exists():
        raise missing_path(what, path, hint, error)


def is_whole(value: object) -> TypeGuard[int | np.integer]:
    """A whole number (numpy's too), but not a bool."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[float | np.integer | np.floating]:
    """A finite int or float (numpy's too), but not a bool."""
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def check_number(
    name: str,
    value: object,
    *,
    at_least: float | None = None,
    above: float | None = None,
    at_most: float | None = None,
    below: float | None = None,
    whole: bool = False,
    unit: str = "",
    meaning: str = "",
    null_means: str | None = None,
    hint: str = "",
    error: type[Exception] = ConfigError,
) -> None:
    """Raise `error` unless `value` is a finite number (a whole one if `whole`) within the bounds
    given: `at_least`/`above` below it, `at_most`/`below` above it (give at most one of each pair).
    With `null_means` (e.g. "for no limit") None is allowed too.

    The message reads: "{name} must be {a number, in words} ({meaning}), or null {null_means}; got
    {value}. {hint}", e.g. "data.horizon must be a whole number of steps, at least 1; got 0."
    """
    if value is None and null_means is not None:
        return
    bounds = (at_least, above, at_most, below)
    if whole and is_whole(value) and _within(value, *bounds):
        return
    if not whole and is_number(value) and _within(value, *bounds):
        return
    expected = _expected(at_least, above, at_most, below, whole, unit)
    if meaning:
        expected += f" ({meaning})"
    if null_means is not None:
        expected += f", or null {null_means}".rstrip()
    shown = repr(value) if isinstance(value, str) else str(value)
    message = f"{name} must be {expected}; got {shown}."
    raise error(f"{message} {hint}" if hint else message)


def _within(
    value: float | np.integer | np.floating,
    at_least: float | None,
    above: float | None,
    at_most: float | None,
    below: float | None,
) -> bool | np.bool_:  # numpy's own bool for a numpy value
    return (
        (at_least is None or value >= at_least)
        and (above is None or value > above)
        and (at_most is None or value <= at_most)
        and (below is None or value < below)
    )


def _expected(
    at_least: float | None, above: float | None, at_most: float | None, below: float | None, whole: bool, unit: str
) -> str:
    """The bounds in words: "a whole number of steps, at least 1", "a number above 0 and below 1"."""
    noun = ("whole number" if whole else "number") + (f" of {unit}" if unit else "")
    low, high = _bound(at_least if at_least is not None else above), _bound(at_most if at_most is not None else below)
    upper = f"below {high}" if below is not None else f"at most {high}"
    if at_least is not None and at_most is not None:
        return f"a {noun} between {low} and {high}"
    if above == 0 and not high:
        return f"a positive {noun}"
    if above is not None:
        return f"a {noun} above {low}" + (f" and {upper}" if high else "")
    if at_least is not None:
        return f"a {noun}, at least {low}" + (f" and {upper}" if high else "")
    return f"a {noun} {upper}" if high else f"a {noun}"


def _bound(bound: float | None) -> str:
    """A bound as written: 1000 rather than 1e+03, 0.5; '' for none."""
    if bound is None:
        return ""
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def check_generated_data(train_size: object, val_size: object, test_size: object, generator_seed: object) -> None:
    """The sizes and seed of a data set generated from a seed (data=adding, the procedural seq2seq tasks)."""
    for key, value in (("train_size", train_size), ("val_size", val_size), ("test_size", test_size)):
        check_number(
            f"data.{key}",
            value,
            at_least=1,
            whole=True,
            unit="examples",
            hint="(The examples are generated, so any size works: e.g. data.train_size=10000, "
            "data.val_size=1000, data.test_size=1000.)",
        )
    check_number(
        "data.generator_seed", generator_seed, at_least=0, whole=True, meaning="it seeds the generated examples"
    )
