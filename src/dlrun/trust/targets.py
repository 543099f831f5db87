"""Every callable a config would build: each `_target_` reachable from its root, at any depth, in
mappings and lists, with `_partial_` ones among them, and behind interpolations that resolvers such
as `oc.decode` or `oc.create` turn into new nodes when Hydra resolves the config to build it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, Node, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from dlrun.trust.allowed import TARGET_KEY

# Resolvers that only read a value (a date, Hydra's own settings, another key, the environment):
# one that does not resolve here cannot hide a `_target_`. Any other resolver could return a new
# node, so its value must resolve to be looked into.
READING_RESOLVERS = frozenset({"now", "hydra", "oc.env", "oc.select"})
_RESOLVER = re.compile(r"\$\{\s*([\w.\-]+)\s*:")


@dataclass(frozen=True)
class Target:
    key: str  # dotted, e.g. callbacks.evil._target_ (lists as [i])
    value: str | None  # None: a `_target_` that does not resolve to a name here


@dataclass(frozen=True)
class Opaque:
    """A value that would become config only when resolved, and does not resolve here."""

    key: str
    text: str


def callables_in(cfg: DictConfig | ListConfig) -> tuple[list[Target], list[Opaque]]:
    targets: list[Target] = []
    opaque: list[Opaque] = []
    for found in _walk(cfg, ""):
        if isinstance(found, Target):
            targets.append(found)
        else:
            opaque.append(found)
    return targets, opaque


def _walk(node: Any, prefix: str) -> Iterator[Target | Opaque]:
    if isinstance(node, DictConfig):
        items = [(str(k), f"{prefix}{k!s}") for k in node.keys()]
        for key, path in items:
            yield from _child(node, key, path)
    elif isinstance(node, ListConfig):
        for i in range(len(node)):
            yield from _child(node, i, f"{prefix[:-1]}[{i}]" if prefix else f"[{i}]")
    elif isinstance(node, dict | list):
        yield from _walk(OmegaConf.create(node), prefix)


def _child(parent: DictConfig | ListConfig, key: Any, path: str) -> Iterator[Target | Opaque]:
    raw = parent._get_node(key)  # the node as written, before its interpolation resolves
    text = raw._value() if isinstance(raw, Node) else None
    interpolated = (
        OmegaConf.is_interpolation(parent, key) if isinstance(parent, DictConfig) else _is_interpolation(text)
    )
    try:
        value = parent[key]
    except OmegaConfBaseException:
        value = _UNRESOLVED
    if key == TARGET_KEY:
        if value is not None:  # `_target_: null` builds nothing (scheduler=none)
            yield Target(path, value if isinstance(value, str) else None)
        return
    if interpolated and value is _UNRESOLVED:
        if set(_RESOLVER.findall(str(text))) - READING_RESOLVERS:
            yield Opaque(path, str(text))
        return
    if interpolated and not _RESOLVER.search(str(text)):
        return  # `${other.key}`: that node is looked into where it lives
    if isinstance(value, DictConfig | ListConfig | dict | list):
        yield from _walk(value, f"{path}.")


def _is_interpolation(text: Any) -> bool:
    return isinstance(text, str) and "${" in text


_UNRESOLVED = object()
