"""A value as a config writes it (null, true, 'text', [1, 2]), for messages about it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def show(value: Any) -> str:
    """A value as a config writes it: null, true, 'text', [1, 2]."""
    if isinstance(value, str):
        return f"'{value}'"
    return show_plain(value)


def show_plain(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    return str(value)
