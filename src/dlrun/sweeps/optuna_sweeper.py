"""dlrun's Optuna sweeper: a Hydra sweeper that asks Optuna for trials and tells it how they ended.

Hydra builds it from `hydra/sweeper=optuna` (the plugin class lives in `hydra_plugins.dlrun_optuna_sweeper`,
where Hydra looks for plugins, and subclasses this one). Each round asks `n_jobs` trials over the
search space (`search_space.py`), launches their jobs together through the configured launcher, and
tells each trial its outcome (`trial_outcome.py`), until `n_trials` trials have run. Each job gets
its trial's number through the environment (`trial_number.py`), so that its pruning callback reports
to exactly that trial.

Only Hydra and dlrun's light modules are imported at the top: Hydra imports every plugin each time it
starts, and optuna takes a second to import.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from hydra.plugins.sweeper import Sweeper
from omegaconf import DictConfig, OmegaConf

from dlrun.errors import DlrunError

if TYPE_CHECKING:
    from hydra.plugins.launcher import Launcher
    from hydra.types import HydraContext, TaskFunction
    from optuna import Study
    from optuna.trial import Trial

    from dlrun.sweeps.search_space import SearchSpace

log = logging.getLogger(__name__)

RESULTS_FILE = "optimization_results.yaml"


class SweepStopped(DlrunError):
    """More trials failed than hydra.sweeper.max_failure_rate allows."""


class OptunaSweeper(Sweeper):
    def __init__(
        self,
        sampler: DictConfig | None,
        direction: str,
        storage: str | None,
        study_name: str | None,
        n_trials: int,
        n_jobs: int | None,
        max_failure_rate: float,
        params: DictConfig | None,
    ) -> None:
        self.sampler = sampler
        self.direction = str(direction)
        self.storage, self.study_name = storage, study_name
        self.n_trials = int(n_trials)
        # None: as many trials at a time as the launcher runs at once, known once setup() has the config.
        self.configured_n_jobs = n_jobs
        self.n_jobs = n_jobs or 1
        self.max_failure_rate = float(max_failure_rate)
        self.params = params
        self.config: DictConfig | None = None
        self.launcher: Launcher | None = None
        self.job_idx = 0

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        from dlrun.sweeps.parallel_jobs import trials_at_a_time

        self.n_jobs = trials_at_a_time(self.configured_n_jobs, OmegaConf.select(config, "hydra.launcher.n_jobs"))
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        self.job_idx = 0

    def search_lines(self, arguments: list[str]) -> list[str]:
        """The preset's search space as override lines, then the command line's overrides."""
        return [str(key) + f"={value}" for key, value in (self.params or {}).items()] + list(arguments)

    def sweep(self, arguments: list[str]) -> None:
        from dlrun.sweeps.optuna_logging import quiet_optuna
        from dlrun.sweeps.optuna_study import build_sampler, open_study
        from dlrun.sweeps.search_space import search_space

        quiet_optuna()
        space = search_space(self.search_lines(arguments))
        # The sweep's config in its dir, as Hydra's basic sweeper leaves it.
        OmegaConf.save(self.config, self.sweep_dir() / "multirun.yaml")
        study = open_study(self.storage, self.study_name, self.direction)
        done = len(study.get_trials(deepcopy=False))
        study.sampler = build_sampler(self.sampler, done) or study.sampler
        log.info(
            f"Optuna study {study.study_name} ({self.storage or 'in memory'}): {self.n_trials} trials, "
            f"{self.n_jobs} at a time, {type(study.sampler).__name__}, {self.direction}"
            + (f", after the {done} it holds" if done else "")
        )
        self.run_trials(study, space)
        self.save_best(study)

    def run_trials(self, study: Study, space: SearchSpace) -> None:
        from optuna.trial import TrialState

        from dlrun.sweeps.trial_number import trial_number_override
        from dlrun.sweeps.trial_outcome import tell

        assert self.launcher is not None, "setup() first"
        ran = failed = 0
        while ran < self.n_trials:
            batch = [study.ask(space.distributions) for _ in range(min(self.n_jobs, self.n_trials - ran))]
            overrides = [[*space.overrides_for(t.params), trial_number_override(t.number)] for t in batch]
            try:
                jobs = self.launcher.launch(overrides, initial_job_idx=self.job_idx)
            except BaseException:
                # Whatever stopped the launcher (Ctrl-C, a launcher error), no trial of the batch stays
                # RUNNING in the storage for ever.
                for trial in batch:
                    study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
                raise
            self.job_idx += len(batch)
            told: list[Trial] = []
            for trial, job in zip(batch, jobs):
                outcome = tell(study, trial, job)
                told.append(trial)
                failed += outcome.state == TrialState.FAIL
                _log_outcome(trial.number, outcome)
            for trial in batch[len(told) :]:  # a launcher that returned fewer jobs than it was given
                study.tell(trial, state=TrialState.FAIL)
                failed += 1
            ran += len(batch)
            if failed / ran > self.max_failure_rate:
                raise SweepStopped(
                    f"{failed} of the {ran} trials so far failed, more than hydra.sweeper.max_failure_rate="
                    f"{self.max_failure_rate} allows; the study stops here."
                )

    def save_best(self, study: Study) -> None:
        """The best trial so far, in the sweep dir (it may come from an earlier invocation of a resumed study)."""
        try:
            best = study.best_trial
        except ValueError:  # no trial has completed
            log.warning(f"No trial of the study {study.study_name} has completed: there is no best trial yet.")
            return
        results = {
            "name": "optuna",
            "study_name": study.study_name,
            "best_trial": best.number,
            "best_value": best.value,
            "best_params": best.params,
            "best_run_dir": best.user_attrs.get("run_dir"),
        }
        OmegaConf.save(OmegaConf.create(results), self.sweep_dir() / RESULTS_FILE)
        log.info(f"Best trial {best.number}: {best.value} with {best.params}")

    def sweep_dir(self) -> Path:
        assert self.config is not None, "setup() first"
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        return sweep_dir


def _log_outcome(number: int, outcome) -> None:
    run = outcome.user_attrs.get("run_dir")
    if outcome.state.name == "PRUNED":
        log.info(f"Trial {number} pruned at epoch {outcome.user_attrs.get('pruned_at_epoch')} ({run})")
    elif outcome.state.name == "FAIL":
        log.warning(f"Trial {number} failed ({run}): {outcome.user_attrs.get('error')}")
