"""What a sweep checks before its first job runs, so a mistake costs seconds, not a sweep."""

from __future__ import annotations

from typing import cast

from hydra.core.override_parser.types import Override
from omegaconf import DictConfig, OmegaConf

from dlrun.config.compose import job_config
from dlrun.errors import ConfigError

DIRECTIONS = {"max": "maximize", "min": "minimize"}


def check_sweep(cfg: DictConfig, overrides: list[Override]) -> None:
    """The first job's monitor is a metric its task logs, and an Optuna sweep optimizes it in
    monitor_mode's direction, over a search space Optuna can sample and its stored study can take,
    with a sampler that builds and a storage that opens."""
    from dlrun.building import build_task

    build_task(job_config(cfg))
    if cfg.hydra.runtime.choices.get("hydra/sweeper") != "optuna":
        return
    from dlrun.sweeps.optuna_logging import quiet_optuna
    from dlrun.sweeps.optuna_study import build_sampler, stored_study
    from dlrun.sweeps.parallel_jobs import trials_at_a_time

    quiet_optuna()  # before the storage is opened, here or by the sweeper
    sweeper = cfg.hydra.sweeper
    expected = DIRECTIONS[cfg.monitor_mode]
    direction = str(OmegaConf.select(sweeper, "direction"))
    if direction != expected:
        raise ConfigError(
            f"hydra.sweeper.direction is {direction}, but monitor_mode is {cfg.monitor_mode} ({cfg.monitor}): "
            f"the study would optimize the wrong way. Drop the direction override (the presets derive it, "
            f"hydra.sweeper.direction=${{monitor_mode}}imize) or set hydra.sweeper.direction={expected}."
        )
    check_counts(sweeper)
    distributions = search_space(sweeper, overrides)
    build_sampler(sweeper.sampler, 0)
    study = stored_study(sweeper.storage, sweeper.study_name)
    done = len(study.trials) if study is not None else 0
    if study is not None:
        check_stored_direction(study, expected, sweeper.study_name)
        check_search_space(study, distributions, sweeper.study_name)
    resumed = f", resumed after {done} trials" if done else ""
    n_jobs = trials_at_a_time(sweeper.n_jobs, OmegaConf.select(cfg, "hydra.launcher.n_jobs"))
    at_a_time = f", {n_jobs} at a time" if n_jobs > 1 else ""
    print(
        f"dlrun: Optuna will {expected} {cfg.monitor} over {sweeper.n_trials} trials{at_a_time} "
        f"(study {sweeper.study_name}{resumed}, storage {sweeper.storage})",
        flush=True,
    )


COUNTS = {
    "n_trials": "the number of trials this invocation runs",
    "n_jobs": "the trials asked at a time and launched together (null: as many as the launcher runs at once)",
}


def check_counts(sweeper: DictConfig) -> None:
    for key, meaning in COUNTS.items():
        value = sweeper.get(key)
        if key == "n_jobs" and value is None:
            continue
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"hydra.sweeper.{key} is {value}; it is {meaning}, a whole number of at least 1.")
    rate = sweeper.get("max_failure_rate")
    if not isinstance(rate, int | float) or not 0 <= rate <= 1:
        raise ConfigError(
            f"hydra.sweeper.max_failure_rate is {rate}; it is the share of failed trials that stops the study, "
            "from 0 (the first failure stops it) to 1.0 (never stop)."
        )


def search_space(sweeper: DictConfig, overrides: list[Override]) -> dict:
    """Parameter -> Optuna distribution, as the sweeper will build it (the preset's params, then the
    job overrides of the command line, whose entries replace them)."""
    from dlrun.sweeps.search_space import search_space as space_of

    params = [f"{key}={value}" for key, value in (sweeper.params or {}).items()]
    # A parsed override keeps its input_line (Hydra types it as optional).
    params += [cast(str, o.input_line) for o in overrides if not is_hydra_override(o)]
    return space_of(params).distributions


def is_hydra_override(override: Override) -> bool:
    """Hydra's own settings (hydra.sweeper.n_trials, hydra/launcher=joblib), which no job takes."""
    key = override.key_or_group
    return key == "hydra" or key.startswith(("hydra.", "hydra/"))


def check_stored_direction(study, expected: str, study_name: str) -> None:
    stored = study.direction.name.lower()
    if stored != expected:
        raise ConfigError(
            f"The stored study '{study_name}' was made to {stored}, and this sweep would {expected} "
            f"(monitor_mode); a study keeps its direction. Start another study with "
            f"hydra.sweeper.study_name=NEW_NAME, or set monitor and monitor_mode as the study had them."
        )


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
