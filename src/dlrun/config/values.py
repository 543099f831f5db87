"""Every configured value checked against what will receive it, before a dir is made or a model built.

Nothing here knows a config path. For each node with a `_target_`, the target itself says what is
right: its signature names the arguments it takes (any other key is a did-you-mean, unless it takes
**kwargs that go somewhere we cannot see), and its annotations say each one's type (1.5 is no `int`,
[a, b] no `Sequence[int]`, 64 no list at all, `true` no number). What a type cannot say, RULES adds,
keyed by the parameter's NAME: ranges (`lr` > 0, `dropout` in [0, 1), sizes >= 1, ...), paths that
must exist, and values passed through the function that reads them where the parameter is declared:
an `activation` is whatever `make_activation` there accepts. A fixed choice needs no rule: it is a
`Literal[...]` in the signature (`cell: Literal["rnn", "lstm", "gru"]`), and a value outside it is an
unknown choice, with the valid ones and a did-you-mean. A user's own class is checked the same way,
with no new rule: its annotations (dlrun's Literals too, such as dlrun.models.pooling.PoolKind), and
the rules of any parameter name it shares (its `activation` too, if its module uses dlrun's
`make_activation`).

This module walks the config and checks each value; what a target takes is read by
dlrun.config.signatures, a value is matched to its annotation by dlrun.config.hints, and RULES lives in
dlrun.config.value_rules.

It stays cheap: a target's module is imported only when a node names it (the run imports it anyway),
nothing is built but the small objects a rule resolves a value through (an activation, a pool), and
no data is read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dlrun.choices import choices_of
from dlrun.config.compose import job_config
from dlrun.config.hints import conforms, describe, is_number, wants_number
from dlrun.config.moved import moved_from
from dlrun.config.show import show, show_plain
from dlrun.config.signatures import EMPTY, Accepts, Param, accepts
from dlrun.config.value_rules import RULES, OneOf, Resolve
from dlrun.errors import ConfigError, did_you_mean, unknown_choice

# Hydra's own keys in a node, never arguments of its target.
HYDRA_KEYS = frozenset({"_target_", "_partial_", "_recursive_", "_convert_", "_args_"})
MISSING = "???"

# Top-level values, which no target receives.
TOP_LEVEL: dict[str, Any] = {"seed": int | None, "monitor": str, "task_name": str}


def check_values(cfg: DictConfig, skip: Iterable[str] = ()) -> None:
    """Raise ConfigError for the first value of the (composed) config that its receiver would refuse.

    `skip`: keys whose values are left to the jobs (the values a multirun sweeps)."""
    values = OmegaConf.to_container(job_config(cfg), resolve=True)
    assert isinstance(values, dict)  # a config's root is a mapping
    skipped = set(skip)
    for key, hint in TOP_LEVEL.items():
        if key in values and key not in skipped:
            param = Param(key, hint, EMPTY, "", {}, None, __name__)
            check_value(key, values[key], param, "dlrun")
    _walk(values, "", skipped)


def _walk(node: Any, path: str, skip: set[str]) -> None:
    if isinstance(node, dict):
        if isinstance(node.get("_target_"), str) and node["_target_"]:
            check_node(node, path, skip)
        for key, value in node.items():
            _walk(value, f"{path}.{key}" if path else str(key), skip)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _walk(value, f"{path}[{i}]", skip)


def check_node(node: dict, path: str, skip: AbstractSet[str] = frozenset()) -> None:
    """The keys of one `_target_` node against the arguments its target takes."""
    name = node["_target_"]
    target = _locate(name, f"{path}._target_")
    takes = accepts(target, name)
    if takes is None:
        return
    for key, value in node.items():
        key = str(key)
        if key in HYDRA_KEYS:
            continue
        where = f"{path}.{key}"
        param = takes.params.get(key)
        if param is None and not takes.open:
            moved = moved_from(where, name)
            raise ConfigError(moved.message()) if moved else _not_an_argument(where, key, path, takes)
        if where not in skip:
            check_value(where, value, param, name)


def check_value(where: str, value: Any, param: Param | None, label: str) -> None:
    """One value against its parameter's type (when there is a parameter and a type) and RULES."""
    if value == MISSING:
        raise ConfigError(f"{where} has no value ('???' in the config): set it, e.g. {where}=VALUE.")
    if isinstance(value, dict) and value.get("_target_"):
        return  # built by Hydra first; the walk checks its own keys
    typed = None
    if param is not None and param.hint is not None:
        typed = conforms(value, param.hint)
        if typed is False and param.default is not EMPTY and conforms(param.default, param.hint) is False:
            typed = None if type(value) is type(param.default) else False  # the annotation leaves out its own default
        if typed is False:
            choices = choices_of(param.hint)
            if choices is not None and not isinstance(value, dict | list):
                raise unknown_choice(where, show_plain(value), [show_plain(c) for c in choices])
            written = f" ({label} takes {param.name}: {param.shown})" if 0 < len(param.shown) <= 80 else ""
            quote = ""
            if is_number(value) and conforms(str(value), param.hint) and not wants_number(param.hint):
                # Hydra reads data.target=1 as a number
                quote = f" To give the text {value}, quote it: \"{where}='{value}'\"."
            raise ConfigError(f"{where} must be {describe(param.hint)}, got {show(value)}{written}.{quote}")
    if value is None:
        return
    for rule in RULES.get(where.rsplit(".", 1)[-1], ()):
        if param is None and isinstance(rule, OneOf | Resolve):
            continue
        rule.check(where, value, param, typed)


def takes_argument(node: Any, path: str, key: str) -> str | None:
    """The target of the node at `path` if it takes argument `key` (a key the config leaves out)."""
    name = node.get("_target_") if isinstance(node, Mapping | DictConfig) else None
    if not isinstance(name, str) or not name:
        return None
    try:
        takes = accepts(_locate(name, f"{path}._target_"), name)
    except ConfigError:
        return None
    if takes is None or key not in takes.params:
        return None
    param = takes.params[key]
    return f"{takes.label} takes it ({key}: {param.shown})" if 0 < len(param.shown) <= 80 else f"{takes.label} takes it"


def _not_an_argument(where: str, key: str, path: str, takes: Accepts) -> ConfigError:
    names = sorted(takes.params)
    suggestion = did_you_mean(key, names)
    if suggestion:
        suggestion = suggestion.replace("Did you mean ", f"Did you mean {path}.")
    taken = ", ".join(names) or "no arguments"
    return ConfigError(f"{where} is not an argument of {takes.label}, which takes: {taken}.{suggestion}")


def _locate(name: str, where: str) -> Any:
    from hydra.utils import get_object

    try:
        return get_object(name)
    except Exception as e:  # the user's module may fail in any way as it imports
        cause = e.__cause__ or e
        raise ConfigError(f"{where} '{name}' cannot be imported: {' '.join(str(cause).split())}") from None
