"""Which callables dlrun builds from a run dir it did not sign: its own classes, and the library
callables that its shipped config tree names. The set is read from `conf/` and the `dlrun` package
each time dlrun starts, so it cannot drift from the configs.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from dlrun.config.location import config_dir

TARGET_KEY = "_target_"
PACKAGE = "dlrun"
# Library targets that earlier releases of the config tree named and runs recorded with them still do.
FORMERLY_SHIPPED = frozenset({"pytorch_lightning.loggers.TensorBoardLogger"})


@cache
def shipped_targets() -> frozenset[str]:
    """Every `_target_` named anywhere in dlrun's packaged config tree, now or before."""
    return frozenset(targets_in_tree(config_dir())) | FORMERLY_SHIPPED


def targets_in_tree(root: Path) -> set[str]:
    """Every `_target_` string in the YAML files under `root` (a config dir)."""
    found: set[str] = set()
    for path in sorted(root.rglob("*.yaml")):
        try:
            documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # composing that file fails on its own, with Hydra's message
        for document in documents:
            found.update(target_strings(document))
    return found


def target_strings(value: Any) -> Iterator[str]:
    """The `_target_` strings in plain nested data (dicts and lists from YAML or an override)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == TARGET_KEY and isinstance(item, str):
                yield item
            else:
                yield from target_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from target_strings(item)


def targets_named_by(overrides: Iterable[str]) -> set[str]:
    """The `_target_`s that command-line overrides name: `key._target_=NAME`, or inside a value
    such as `+callbacks.mine={_target_: NAME}` (every element of a sweep)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    found: set[str] = set()
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        if override.is_delete():
            continue
        values = (
            list(override.sweep_iterator())
            if override.is_sweep_override() and not override.is_interval_sweep()
            else [override.value()]
        )
        for value in values:
            if override.key_or_group.split(".")[-1] == TARGET_KEY and isinstance(value, str):
                found.add(value)
            found.update(target_strings(value))
    return found


def is_allowed(target: str, also: Iterable[str] = ()) -> bool:
    """Whether `target` may be built from an untrusted run dir (`also`: what the user's own command
    line or config dir names, which is theirs to trust)."""
    return target in shipped_targets() or target in set(also) or is_dlrun_class(target)


@cache
def is_dlrun_class(target: str) -> bool:
    """A class that dlrun itself defines, named by a public path inside the package.

    Decided by the path before anything is imported (only dlrun's own modules ever are), then by
    what the path resolves to: `dlrun.some_module.shutil.copyfile` resolves to a function of another
    module, and `dlrun.__main__` would run the CLI when imported.
    """
    parts = target.split(".")
    if parts[0] != PACKAGE or len(parts) < 2 or any(not part.isidentifier() or part.startswith("_") for part in parts):
        return False
    from hydra.utils import get_object

    try:
        found = get_object(target)
    except Exception:  # not there: nothing to build
        return False
    module = getattr(found, "__module__", "") or ""
    return inspect.isclass(found) and (module == PACKAGE or module.startswith(f"{PACKAGE}."))
