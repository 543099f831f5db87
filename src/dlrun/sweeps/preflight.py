"""What a sweep checks before its first job runs, so a mistake costs seconds, not a sweep."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from hydra.core.override_parser.types import Override
from omegaconf import DictConfig, OmegaConf

from dlrun.config.compose import job_config
from dlrun.errors import ConfigError

SQLITE = "sqlite:///"
DIRECTIONS = {"max": "maximize", "min": "minimize"}


def check_sweep(cfg: DictConfig, overrides: list[Override]) -> list[str]:
    """The first job's monitor is a metric its task logs, and an Optuna sweep optimizes it in
    monitor_mode's direction over a search space its stored study can take. Returns overrides to
    add: a resumed study's sampler seed moves past the trials it holds."""
    from dlrun.building import build_task

    build_task(job_config(cfg))
    if cfg.hydra.runtime.choices.get("hydra/sweeper") != "optuna":
        return []
    from dlrun.sweeps.optuna_logging import quiet_optuna

    quiet_optuna()  # before the storage is opened, here or by the sweeper
    sweeper = cfg.hydra.sweeper
    expected = DIRECTIONS[cfg.monitor_mode]
    direction = str(OmegaConf.select(sweeper, "direction"))
    if direction.rsplit(".", 1)[-1] != expected:
        raise ConfigError(
            f"hydra.sweeper.direction is {direction}, but monitor_mode is {cfg.monitor_mode} ({cfg.monitor}): "
            f"the study would optimize the wrong way. Drop the direction override (the presets derive it, "
            f"hydra.sweeper.direction=${{monitor_mode}}imize) or set hydra.sweeper.direction={expected}."
        )
    study = stored_study(sweeper.storage, sweeper.study_name)
    done = len(study.trials) if study is not None else 0
    if study is not None:
        check_search_space(study, search_space(sweeper, overrides), sweeper.study_name)
    resumed = f", resumed after {done} trials" if done else ""
    print(
        f"dlrun: Optuna will {expected} {cfg.monitor} over {sweeper.n_trials} trials "
        f"(study {sweeper.study_name}{resumed}, storage {sweeper.storage})",
        flush=True,
    )
    seed = OmegaConf.select(sweeper, "sampler.seed")
    # The same seed would make a resumed study repeat its first (random) trials exactly.
    return [f"hydra.sweeper.sampler.seed={seed + done}"] if done and isinstance(seed, int) else []


def stored_study(storage: str | None, study_name: str | None):
    """The study already in the storage, or None (no storage, or before its first trial)."""
    if not storage or not study_name:
        return None
    if storage.startswith(SQLITE):
        database = Path(storage[len(SQLITE) :])
        if not database.is_file():
            database.parent.mkdir(parents=True, exist_ok=True)  # sqlite makes the file, not its dir
            return None
    import optuna

    try:
        return optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        return None


def search_space(sweeper: DictConfig, overrides: list[Override]) -> dict:
    """Parameter -> Optuna distribution, as the sweeper will build it (preset params, then sweeps
    given on the command line, which replace them)."""
    from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides

    params = [f"{key}={value}" for key, value in (sweeper.params or {}).items()]
    # A parsed override keeps its input_line (Hydra types it as optional).
    params += [
        cast(str, o.input_line) for o in overrides if o.is_sweep_override() and not o.key_or_group.startswith("hydra")
    ]
    distributions, _ = create_params_from_overrides(params)
    return distributions


def check_search_space(study, distributions: dict, study_name: str) -> None:
    """Optuna refuses a parameter whose kind of distribution changes within a study (mid-sweep,
    with a traceback); say so before the sweep instead."""
    from optuna.distributions import check_distribution_compatibility

    stored = {}
    for trial in study.trials:
        stored.update(trial.distributions)
    for name, new in distributions.items():
        if name in stored:
            try:
                check_distribution_compatibility(stored[name], new)
            except ValueError:
                raise ConfigError(
                    f"The stored study '{study_name}' searched {name} over {stored[name]}, and this sweep asks "
                    f"for {new}; a study keeps each parameter's kind of distribution. Keep the search space to "
                    f"resume it, or start another study with hydra.sweeper.study_name=NEW_NAME."
                ) from None
