"""Fixed choices (a cell, an attention, a pool, a tokenizer) are each written once: as a `Literal[...]`
in the signature of what takes one. The config checker reads that annotation before anything runs
(dlrun.config.values); the code that uses the value checks it against the same Literal here, since
models and data modules are also built from plain Python, where no config checker has looked."""

from __future__ import annotations

import types
import typing
from typing import Any

from dlrun.errors import did_you_mean, unknown_choice


def choices_of(hint: Any) -> tuple[Any, ...] | None:
    """The values a `Literal[...]` allows, None among them for `Literal[...] | None`; None when the
    hint is anything else (a str, a Literal joined with another type)."""
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    values: list[Any] = []
    for member in typing.get_args(hint) if union else (hint,):
        if member is type(None):
            values.append(None)
        elif typing.get_origin(member) is typing.Literal:
            values += typing.get_args(member)
        else:
            return None
    return tuple(values) if any(v is not None for v in values) else None


def check_choice(what: str, value: object, choices: Any, null_means: str | None = None) -> None:
    """A ValueError unless `value` is one of the `Literal[...]` `choices` (or None, when `null_means`
    says what null stands for): "unknown cell 'lstn'; choose one of: rnn, lstm, gru. Did you mean lstm?"."""
    allowed = choices_of(choices) or ()
    if value in allowed or (value is None and null_means is not None):
        return
    names = [str(c) for c in allowed]
    null = f", or null for {null_means}" if null_means is not None else ""
    raise ValueError(
        f"unknown {what} '{value}'; choose one of: {', '.join(names)}{null}.{did_you_mean(str(value), names)}"
    )


def check_config_choice(key: str, value: object, choices: Any) -> None:
    """A ConfigError unless `value` is one of the `Literal[...]` (or `Literal[...] | None`) `choices`:
    for a data setting, named by its config key (`data.layout`)."""
    allowed = choices_of(choices) or ()
    if value not in allowed:
        raise unknown_choice(key, value, ["null" if c is None else c for c in allowed])
