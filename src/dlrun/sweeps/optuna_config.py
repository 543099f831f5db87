"""The configs of dlrun's Optuna sweeper: `hydra/sweeper=optuna` and its samplers in
`hydra/sweeper/sampler` (tpe, random, cmaes). The plugin shim in `hydra_plugins.dlrun_optuna_sweeper`
stores them in Hydra's ConfigStore; this module imports nothing but Hydra's config types, since Hydra
imports every plugin module each time it starts.

A sampler is any `_target_` with its arguments, so a user's own sampler config in
`hydra/sweeper/sampler/` of their config dir plugs in the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

SWEEPER_TARGET = "hydra_plugins.dlrun_optuna_sweeper.optuna_sweeper.OptunaSweeper"
SAMPLER_GROUP = "hydra/sweeper/sampler"
PROVIDER = "dlrun"


@dataclass
class TPESamplerConf:
    """https://optuna.readthedocs.io/en/stable/reference/samplers/generated/optuna.samplers.TPESampler.html
    (None: Optuna's own default)."""

    _target_: str = "optuna.samplers.TPESampler"
    seed: int | None = None
    n_startup_trials: int = 10
    n_ei_candidates: int = 24
    multivariate: bool | None = None
    group: bool = False
    # Trials asked while others of the same batch run (hydra.sweeper.n_jobs > 1) steer clear of them.
    constant_liar: bool = True


@dataclass
class RandomSamplerConf:
    _target_: str = "optuna.samplers.RandomSampler"
    seed: int | None = None


@dataclass
class CmaEsSamplerConf:
    """https://optuna.readthedocs.io/en/stable/reference/samplers/generated/optuna.samplers.CmaEsSampler.html
    (continuous and integer parameters; a categorical one is sampled at random)."""

    _target_: str = "optuna.samplers.CmaEsSampler"
    seed: int | None = None
    sigma0: float | None = None
    n_startup_trials: int = 1
    use_separable_cma: bool = False
    with_margin: bool = False


SAMPLERS = {"tpe": TPESamplerConf, "random": RandomSamplerConf, "cmaes": CmaEsSamplerConf}


@dataclass
class OptunaSweeperConf:
    _target_: str = SWEEPER_TARGET
    # The sweeper builds the sampler itself, once it knows how many trials the study already holds.
    _recursive_: bool = False
    defaults: list[Any] = field(default_factory=lambda: [{"sampler": "tpe"}])
    sampler: Any = MISSING
    direction: str = "minimize"  # or maximize
    # An RDB URL (sqlite:///path/study.db); None keeps the study in memory, for this invocation only.
    storage: str | None = None
    # The study in the storage: the same name resumes it.
    study_name: str | None = None
    n_trials: int = 20
    # Trials asked at a time and launched together through the launcher; None: as many as it runs at
    # once (joblib's hydra.launcher.n_jobs, one for the basic launcher).
    n_jobs: int | None = None
    # Stop the study once more than this share of its trials failed (1.0: never; failed trials are told FAIL).
    max_failure_rate: float = 1.0
    # The search space, in Hydra's override grammar: key -> interval(...), choice(...), range(...), ...
    params: dict[str, str] | None = None


def store_configs() -> None:
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    store.store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider=PROVIDER)
    for name, node in SAMPLERS.items():
        store.store(group=SAMPLER_GROUP, name=name, node=node, provider=PROVIDER)
