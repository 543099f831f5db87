"""What a `_target_` accepts: the keyword arguments its signature names, their annotations as types,
and where each is declared (for the rules that look up a constant or function there)."""

from __future__ import annotations

import collections.abc as abc
import importlib
import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

EMPTY = inspect.Parameter.empty
ABSENT = object()


@dataclass
class Param:
    name: str
    hint: Any  # a resolved annotation, or None when there is none we can read
    default: Any
    shown: str  # the annotation as written, for messages
    namespace: dict  # the globals of the function that declares it
    owner: type | None  # the class whose __init__ declares it
    module: str

    def lookup(self, name: str) -> Any:
        """A constant or function of this name where the parameter is declared."""
        if self.owner is not None:  # a class's constants (not its methods: they take self)
            found = getattr(self.owner, name, ABSENT)
            if found is not ABSENT and not inspect.isroutine(found):
                return found
        return self.namespace.get(name, ABSENT)


@dataclass
class Accepts:
    label: str  # the target's dotted name
    params: dict[str, Param]
    open: bool  # takes keywords it does not name (**kwargs we cannot follow)


_ACCEPTS: dict[tuple[Any, str], Accepts | None] = {}


def accepts(target: Any, label: str) -> Accepts | None:
    """The keyword arguments `target` takes, with their annotations; None if it has no readable signature."""
    try:
        return _ACCEPTS[target, label]
    except TypeError:  # unhashable: read it every time
        return _read_accepts(target, label)
    except KeyError:
        found = _ACCEPTS[target, label] = _read_accepts(target, label)
        return found


def _read_accepts(target: Any, label: str) -> Accepts | None:
    try:
        return _accepts(target, label)
    except (TypeError, ValueError):  # builtins and other callables without a signature
        return None


def _accepts(target: Any, label: str) -> Accepts:
    params: dict[str, Param] = {}
    if not inspect.isclass(target):
        return Accepts(label, params, _add(params, target, None, skip_first=False))
    if all("__init__" not in cls.__dict__ for cls in target.__mro__[:-1]):  # a __new__ of its own, say
        return Accepts(label, params, _add(params, target, None, skip_first=False))
    for cls in target.__mro__:
        if cls is object:
            return Accepts(label, params, False)
        init = cls.__dict__.get("__init__")
        if init is None:
            continue
        if not _add(params, init, cls, skip_first=True):
            return Accepts(label, params, False)
        if not _forwards_kwargs(init):  # its **kwargs go elsewhere (DDPStrategy's to DDP): anything goes
            return Accepts(label, params, True)
    return Accepts(label, params, True)


def _add(params: dict[str, Param], function: Callable, owner: type | None, skip_first: bool) -> bool:
    """Add `function`'s keyword parameters (a subclass's come first and win); True if it takes **kwargs."""
    signature = inspect.signature(function)
    hints = _hints(function)
    unwrapped = inspect.unwrap(function)
    namespace = getattr(unwrapped, "__globals__", {})
    module = getattr(unwrapped, "__module__", "") or ""
    takes_any = False
    for i, (name, parameter) in enumerate(signature.parameters.items()):
        if skip_first and i == 0:
            continue
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            takes_any = True
        if parameter.kind in _NOT_BY_KEYWORD or name in params:
            continue
        annotation = parameter.annotation
        hint = hints.get(name, None) if annotation is not EMPTY else _hint_from_default(parameter.default)
        shown = annotation if isinstance(annotation, str) else _type_name(annotation) if annotation is not EMPTY else ""
        params[name] = Param(name, hint, parameter.default, shown, namespace, owner, module)
    return takes_any


_NOT_BY_KEYWORD = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD, inspect.Parameter.POSITIONAL_ONLY)


def _hints(function: Callable) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function)
    except Exception:  # one annotation that does not resolve (a name imported for type checking only)
        pass
    namespace = getattr(inspect.unwrap(function), "__globals__", {})
    hints = {}
    for name, annotation in getattr(function, "__annotations__", {}).items():
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, dict(namespace))  # noqa: S307 - what get_type_hints does, one at a time
            except Exception:
                annotation = None
        hints[name] = annotation
    return hints


def _hint_from_default(default: Any) -> Any:
    """An unannotated parameter is taken to be of its default's kind (a number for 0, a list for ())."""
    if isinstance(default, bool):
        return bool
    if isinstance(default, int | float):
        return float
    if isinstance(default, str):
        return str
    if isinstance(default, list | tuple):
        return abc.Sequence
    return None


def _forwards_kwargs(init: Callable) -> bool:
    """Whether an __init__ passes its **kwargs on to a base class's __init__ (whose arguments are then its own)."""
    parameters = inspect.signature(init).parameters.values()
    kwargs = next(p.name for p in parameters if p.kind is inspect.Parameter.VAR_KEYWORD)
    try:
        source = inspect.getsource(init)
    except (OSError, TypeError):
        return False
    call = r"\.__init__\((?:[^()]|\([^()]*\))*\*\*" + re.escape(str(kwargs)) + r"\b"  # super().__init__(..., **kwargs)
    return re.search(call, source) is not None


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def import_reference(reference: str) -> Any:
    """What a "package.module:name.attribute" reference names (a OneOf's or a Choice's source)."""
    module, _, attribute = reference.partition(":")
    found: Any = importlib.import_module(module)
    for part in attribute.split("."):
        found = getattr(found, part)
    return found
