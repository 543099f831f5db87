"""Check overrides before anything runs, so a typo fails in a second with a did-you-mean, not late."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from dlrun.checks import missing_path
from dlrun.config.compose import ConfigSource, job_config
from dlrun.config.moved import moved_key
from dlrun.config.show import show
from dlrun.config.values import check_values, takes_argument
from dlrun.errors import ConfigError, did_you_mean, unknown_choice
from dlrun.trackers.extras import check_trackers_installed

_ABSENT = object()
MONITOR_MODES = ("min", "max")


@dataclass
class CheckedConfig:
    cfg: DictConfig  # composed with the first value of every sweep, `hydra` node included
    overrides: list[Override]


def check(source: ConfigSource, overrides: list[str], multirun: bool = False) -> CheckedConfig:
    """Compose and validate; raise ConfigError naming the bad override and what would be right.

    Every value is then checked against what receives it (see dlrun.config.values), except, in a
    multirun, the values of keys it sweeps: each is its own job's, which records its own failure.
    """
    return check_values_of(compose_checked(source, overrides, multirun))


@dataclass
class ComposedConfig:
    cfg: DictConfig
    overrides: list[Override]
    swept: list[str]  # the keys whose values a multirun sweeps


def compose_checked(source: ConfigSource, overrides: list[str], multirun: bool = False) -> ComposedConfig:
    """The first half of `check`: the overrides parse, name groups, options and keys that exist, keep
    each value's type, and compose. Imports only Hydra."""
    check_config_dir(source)
    parsed = _parse(overrides)
    is_group = {o.key_or_group: source.is_group(o.key_or_group) for o in parsed}
    for override in parsed:
        if is_group[override.key_or_group] and not override.is_delete():
            _check_group_choice(source, override)

    first_values = [_first_value(o) for o in parsed]
    values = [o for o in parsed if not is_group[o.key_or_group]]
    swept = [o.key_or_group for o in values if multirun and o.is_sweep_override()]
    if not values:  # groups only: nothing to compare against a config without the values
        return ComposedConfig(_compose(source, first_values, multirun), parsed, swept)
    base = _compose(source, [line for o, line in zip(parsed, first_values) if is_group[o.key_or_group]], multirun)
    for override in values:
        if not (override.is_add() or override.is_force_add()):
            _check_key_exists(base, override, source)
    cfg = _compose(source, first_values, multirun)
    for override in values:
        _check_type_kept(base, cfg, override.key_or_group)
    return ComposedConfig(cfg, parsed, swept)


def check_values_of(composed: ComposedConfig) -> CheckedConfig:
    """The second half of `check`: every value resolves and suits what receives it (which imports
    the classes the config names)."""
    _check_resolves(composed.cfg)
    _check_semantics(composed.cfg)
    check_values(composed.cfg, skip=composed.swept)
    return CheckedConfig(cfg=composed.cfg, overrides=composed.overrides)


def check_config_dir(source: ConfigSource) -> None:
    """A ConfigError when --config-dir names no directory (Hydra would silently search nothing there)."""
    directory = source.user_config_dir
    if not directory or Path(directory).expanduser().is_dir():
        return
    hint = (
        "Give the dir that holds your config groups, e.g. my_conf with my_conf/model/mine.yaml, or leave "
        "--config-dir out."
    )
    if not Path(directory).expanduser().exists():
        raise missing_path("--config-dir", directory, hint)
    raise ConfigError(f"--config-dir '{directory}' is a file, not a directory. {hint}")


OVERRIDE_GRAMMAR = (
    "An override is key=value to change a value (optimizer.lr=0.01), group=option to pick an option "
    "(optimizer=adam), +key=value to add a key, or ~key to remove one."
)


def _parse(overrides: list[str]) -> list[Override]:
    for line in overrides:
        # Hydra reads '=adam' as an override of the key '' (the primary config), whose options would
        # then be listed as if the user had asked for them.
        if not line.lstrip("+~").split("=", 1)[0].split("@", 1)[0].strip():
            raise ConfigError(f"'{line}' is not an override: it names no key. {OVERRIDE_GRAMMAR}")
    try:
        return OverridesParser.create().parse_overrides(overrides)
    except HydraException as e:
        raise ConfigError(f"Could not parse the overrides: {_one_line(e).rstrip('.')}. {OVERRIDE_GRAMMAR}") from None


def _sweep_values(override: Override) -> list[str]:
    if not override.is_sweep_override():
        return [override.get_value_element_as_str()]
    try:
        return list(override.sweep_string_iterator())
    except Exception:  # interval() and other sweeps that only a sweeper plugin can sample
        return []


def _first_value(override: Override) -> str:
    values = _sweep_values(override)
    if not values or not override.is_sweep_override():
        return cast(str, override.input_line)  # a parsed override keeps its text (Hydra types it as optional)
    return f"{override.get_key_element()}={values[0]}"


def _check_group_choice(source: ConfigSource, override: Override) -> None:
    group = override.key_or_group
    options = [o for o in source.options(group) if not o.startswith("_")]
    for value in _chosen_options(override):
        if value != "null" and value not in options:
            raise unknown_choice(f"{group} option", value, options)


def _chosen_options(override: Override) -> list[str]:
    """The options an override of a group picks: one, or each of a list (`logger=[tensorboard,mlflow]`
    picks both, as Hydra allows), in every value of a sweep."""
    if not override.is_sweep_override():
        values = [override.value()]
    else:
        try:
            values = list(override.sweep_iterator())
        except Exception:  # a sweep only a sweeper plugin can sample: its jobs check their own
            return []
    chosen = []
    for value in values:
        for option in value if isinstance(value, list) else [value]:
            chosen.append("null" if option is None else str(option))
    return chosen


SEARCH_SPACE = "hydra.sweeper.params"


def _check_key_exists(cfg: DictConfig, override: Override, source: ConfigSource) -> None:
    key = override.key_or_group
    if OmegaConf.select(cfg, key, default=_ABSENT, throw_on_missing=False) is not _ABSENT:
        return
    moved = moved_key(cfg, key)
    if moved is not None:
        raise ConfigError(moved.message(cast(str, override.input_line)))
    if key.startswith(SEARCH_SPACE + "."):
        searched = key[len(SEARCH_SPACE) + 1 :]
        line = cast(str, override.input_line)  # a parsed override keeps its text
        raise ConfigError(
            f"'{line}' cannot change one entry of the Optuna search space: its keys hold dots, "
            f"which an override splits. Give that entry as a sweep of its own instead, e.g. "
            f"'{searched}={line.split('=', 1)[-1]}' (choice(...), range(...), interval(...) and "
            "tag(log, interval(...)) work there), and it replaces the preset's."
        )
    parts = key.split(".")
    parent_key = ".".join(parts[:-1])
    parent = OmegaConf.select(cfg, parent_key, default=None) if parent_key else cfg
    while not isinstance(parent, DictConfig) and parts[:-1]:
        parts = parts[:-1]
        parent_key = ".".join(parts[:-1])
        parent = OmegaConf.select(cfg, parent_key, default=None) if parent_key else cfg
    candidates = [str(k) for k in parent.keys()] if isinstance(parent, DictConfig) else []
    if not parent_key:
        candidates = sorted(set(candidates) | set(source.groups()))
    taken_by = takes_argument(parent, parent_key, parts[-1]) if len(parts) == len(key.split(".")) else None
    if taken_by:
        raise ConfigError(
            f"'{key}' is not in the config, but {taken_by}: write '+{override.input_line}' to add it "
            f"(a plain key=value only changes a key the config has)."
        )
    where = f"under '{parent_key}'" if parent_key else "at the top level"
    shown = ", ".join(sorted(c for c in candidates if not c.startswith("hydra"))) or "none"
    suggestion = did_you_mean(parts[-1], candidates)  # compare names, not their shared prefix
    if suggestion and parent_key:
        suggestion = suggestion.replace("Did you mean ", f"Did you mean {parent_key}.")
    raise ConfigError(
        f"Unknown key '{key}' in override '{override.input_line}'. Keys {where}: {shown}."
        f"{suggestion} To add a key that is not in the config, write '+{override.input_line}'."
    )


def _check_type_kept(base: DictConfig, cfg: DictConfig, key: str) -> None:
    """A number or a switch in the config must stay one: `trainer.max_epochs=abc` fails here, not
    deep inside the Trainer after the run has started."""
    before = OmegaConf.select(base, key, default=None, throw_on_missing=False)
    try:
        after = OmegaConf.select(cfg, key, default=None, throw_on_missing=False)
    except OmegaConfBaseException as e:  # an interpolation in the override that points nowhere
        raise ConfigError(f"The override of {key} does not resolve: {_one_line(e)}") from None
    if isinstance(before, bool) and not isinstance(after, bool | None):
        expected = "true or false"
    elif isinstance(before, int | float) and not isinstance(before, bool) and isinstance(after, str | bool):
        expected = "a number"
    else:
        return
    raise ConfigError(f"{key} must be {expected} (the default is {show(before)}), got {show(after)}.")


def compose_plain(source: ConfigSource, overrides: list[str]) -> DictConfig:
    """The composed config and nothing more: no check that imports what it names."""
    check_config_dir(source)
    return _compose(source, overrides, multirun=False)


def _compose(source: ConfigSource, overrides: list[str], multirun: bool) -> DictConfig:
    try:
        return source.compose(overrides, multirun=multirun)
    except (HydraException, OmegaConfBaseException) as e:
        raise ConfigError(f"The config could not be composed: {_one_line(e)}") from None
    except RecursionError:
        raise ConfigError(
            "The config could not be composed: a defaults list includes itself, directly or through another "
            f"config{f' (in --config-dir {source.user_config_dir})' if source.user_config_dir else ''}."
        ) from None


def _check_resolves(cfg: DictConfig) -> None:
    try:
        OmegaConf.to_container(job_config(cfg), resolve=True)
    except OmegaConfBaseException as e:
        raise ConfigError(f"The config has a value that does not resolve: {_one_line(e)}") from None


def _check_semantics(cfg: DictConfig) -> None:
    if cfg.get("monitor_mode") not in MONITOR_MODES:
        raise unknown_choice("monitor_mode", cfg.get("monitor_mode"), MONITOR_MODES)
    check_trackers_installed(cfg)


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())
