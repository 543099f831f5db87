"""One set of hyperparameter names for every job of a sweep, so TensorBoard's HParams tab shows them all.

The tab takes its columns from one run's hyperparameter set; a sweep over `model=mlp,cnn` gives the
jobs different sets (an MLP has no `model.channels`), and the runs whose set differs drop out of the
table. Before the sweep starts, every combination of a grid is composed (not built) and the union of
their names is written into the sweep dir; each job fills the names it lacks.
"""

from __future__ import annotations

import json
from pathlib import Path

from hydra.core.override_parser.types import Override

from dlrun.config.compose import ConfigSource
from dlrun.tensorboard_hparams import MISSING, hparams_of

KEYS_FILE = "hparam_keys.json"
MOST_COMBINATIONS = 512  # composing one takes tens of milliseconds


def sweep_hparam_keys(source: ConfigSource, overrides: list[Override]) -> list[str]:
    """The union of the hyperparameter names of a grid sweep's jobs (an Optuna search varies
    values, not the config's shape: its first job's names are all of them). Jobs that differ only
    in values of existing keys (`optimizer.lr`, `seed`) have the same names, so one of each shape
    is composed."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    shaping = {o.key_or_group for o in overrides if _changes_shape(source, o)}
    parser = OverridesParser.create()
    combinations = [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]
    shapes: dict[tuple[str | None, ...], list[str]] = {}  # Hydra types input_line as optional
    for job in combinations:
        parsed = parser.parse_overrides(job)
        shapes.setdefault(tuple(o.input_line for o in parsed if o.key_or_group in shaping), job)
    keys: dict[str, None] = {}
    for job in list(shapes.values())[:MOST_COMBINATIONS]:
        cfg = source.compose(job, multirun=True)
        try:
            names = hparams_of(cfg, _choices(cfg))
        except Exception:  # a value that resolves only inside the job: its name is still the name
            names = hparams_of(cfg, _choices(cfg), resolve=False)
        keys.update(dict.fromkeys(names))
    return list(keys)


def _changes_shape(source: ConfigSource, override: Override) -> bool:
    """Whether the override can change which keys a config has: a group choice, an added or deleted
    key, or a mapping given as a value."""
    if override.is_add() or override.is_force_add() or override.is_delete():
        return True
    if source.is_group(override.key_or_group):
        return True
    try:
        values = list(override.sweep_iterator()) if override.is_sweep_override() else [override.value()]
    except Exception:  # interval() and the like: numbers, never mappings
        return False
    return any(isinstance(v, dict) for v in values)


def write_keys(sweep_dir: Path, keys: list[str]) -> None:
    (sweep_dir / KEYS_FILE).write_text(json.dumps(keys, indent=1) + "\n")


def fill_missing(params: dict, sweep_dir: str | None) -> dict:
    """`params` with every name of its sweep (MISSING where this job has none), when in a sweep."""
    path = Path(sweep_dir) / KEYS_FILE if sweep_dir else None
    if path is None or not path.is_file():
        return params
    return {**dict.fromkeys(json.loads(path.read_text()), MISSING), **params}


def _choices(cfg) -> dict[str, str]:
    return {k: str(v) for k, v in cfg.hydra.runtime.choices.items() if not k.startswith("hydra")}
