"""The Hydra plugin behind `hydra/sweeper=optuna`: Hydra builds plugins only from classes defined in
the `hydra_plugins` package, so the class is declared here and its logic lives in dlrun.sweeps."""

from __future__ import annotations

from dlrun.sweeps import optuna_config
from dlrun.sweeps import optuna_sweeper as dlrun_sweeper


class OptunaSweeper(dlrun_sweeper.OptunaSweeper):
    """dlrun.sweeps.optuna_sweeper.OptunaSweeper, under the name Hydra accepts."""


optuna_config.store_configs()
