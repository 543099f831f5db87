"""Whether a config value can be of a type annotation, and a type in words for the message when it cannot."""

from __future__ import annotations

import collections.abc as abc
import enum
import os
import types
import typing
from collections.abc import Iterable
from pathlib import PurePath
from typing import Any

from dlrun.config.show import show_plain
from dlrun.config.signatures import EMPTY


def conforms(value: Any, hint: Any) -> bool | None:
    """Whether a config value (after resolving: None, bool, int, float, str, list, dict) can be of
    type `hint`; None when the type says nothing we can check (a class of its own, a Callable)."""
    if hint is None or hint is Any or hint is object or hint is EMPTY:
        return None
    if hint is type(None):
        return value is None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        results = [conforms(value, a) for a in args]
        return True if True in results else None if None in results else False
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin is typing.Annotated:
        return conforms(value, args[0])
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return is_number(value)
    if hint is str:
        return isinstance(value, str)
    cls = origin or hint
    if not isinstance(cls, type) or cls is abc.Callable or cls is type:
        return None
    if issubclass(cls, PurePath) or cls is os.PathLike:
        return isinstance(value, str)
    if issubclass(cls, enum.Enum):
        return any(value in (member.name, member.value) for member in cls)
    if issubclass(cls, (str, bytes)):
        return isinstance(value, str)
    if _is_container(cls, abc.Mapping):
        if not isinstance(value, dict):
            return False
        if len(args) != 2:
            return True
        return _all([conforms(k, args[0]) for k in value] + [conforms(v, args[1]) for v in value.values()])
    if _is_container(cls, abc.Iterable):
        if not isinstance(value, list):
            return False
        if issubclass(cls, tuple) and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and _all([conforms(v, a) for v, a in zip(value, args)])
        return _all([conforms(v, args[0]) for v in value]) if args else True
    if isinstance(value, cls):
        return True
    # A plain number or switch is never an instance of a class of its own (a Tensor, say); a
    # string or a mapping may be something that class's user turns into one.
    return False if isinstance(value, bool | int | float) or value is None else None


def _is_container(cls: type, kind: type) -> bool:
    """A list or a mapping as Python spells them (list, Sequence[int], dict, ...), not some class
    that happens to be iterable (a Tensor)."""
    plain = cls.__module__ in ("builtins", "collections", "collections.abc", "typing")
    if not plain or not issubclass(cls, kind) or issubclass(cls, (str, bytes)):
        return False
    return kind is abc.Mapping or not issubclass(cls, abc.Mapping)


def _all(results: list[bool | None]) -> bool | None:
    return False if False in results else None if None in results else True


def describe(hint: Any, plural: bool = False) -> str:
    """A type in words: 'a whole number or null', 'a list of whole numbers', 'one of 16, 32'."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        members = [a for a in args if a is not type(None)]
        # A class of its own (a Tensor) is not something a config writes: name the rest.
        members = [a for a in members if not _foreign(a)] or members
        literals = [v for a in members if typing.get_origin(a) is typing.Literal for v in typing.get_args(a)]
        words = _unique(describe(a, plural) for a in members if typing.get_origin(a) is not typing.Literal)
        if literals:
            words.insert(0, "one of " + ", ".join(_unique(show_plain(v) for v in literals)))
        if type(None) in args:
            words.append("null")
        return " or ".join(words)
    if origin is typing.Literal:
        return "one of " + ", ".join(show_plain(a) for a in args)
    if origin is typing.Annotated:
        return describe(args[0], plural)
    if hint is type(None):
        return "null"
    simple = {
        bool: ("true or false", "true/false values"),
        int: ("a whole number", "whole numbers"),
        float: ("a number", "numbers"),
        str: ("a string", "strings"),
    }
    if hint in simple:
        return simple[hint][plural]
    cls = origin or hint
    if isinstance(cls, type):
        if issubclass(cls, PurePath) or cls is os.PathLike:
            return "paths" if plural else "a path"
        if issubclass(cls, enum.Enum):
            return "one of " + ", ".join(m.name for m in cls)
        if _is_container(cls, abc.Mapping):
            inner = f" of {describe(args[1], True)}" if len(args) == 2 else ""
            return f"mappings{inner}" if plural else f"a mapping{inner}"
        if _is_container(cls, abc.Iterable):
            if issubclass(cls, tuple) and args and args[-1] is not Ellipsis:
                same = len(set(args)) == 1
                inner = f" of {len(args)} " + (describe(args[0], True) if same else "values")
            else:
                inner = f" of {describe(args[0], True)}" if args else ""
            return f"lists{inner}" if plural else f"a list{inner}"
        return f"{cls.__name__} objects" if plural else f"a {cls.__name__}"
    return str(hint)


def _foreign(hint: Any) -> bool:
    cls = typing.get_origin(hint) or hint
    if not isinstance(cls, type) or cls in (bool, int, float, str, type(None)) or issubclass(cls, PurePath | enum.Enum):
        return False
    return not (_is_container(cls, abc.Mapping) or _is_container(cls, abc.Iterable))


def _unique(words: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for word in words:
        if word not in seen:
            seen.append(word)
    return seen


def wants_number(hint: Any) -> bool:
    members = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    return any(m in (int, float) for m in members)


def wants_whole(hint: Any) -> bool:
    if hint is int:
        return True
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        members = [a for a in args if a is not type(None)]
        return bool(members) and all(wants_whole(a) for a in members)
    if isinstance(origin, type) and issubclass(origin, abc.Iterable) and args:
        return wants_whole(args[0])
    return False


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
