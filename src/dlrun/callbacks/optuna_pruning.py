"""Optuna's median pruning inside a trial that dlrun's Optuna sweeper launched.

The sweeper hands each job its trial's number (dlrun.sweeps.trial_number: an environment variable
set only while the job runs), and the study lives in a storage every job can open: this callback
opens that trial, reports the monitored value each epoch, and stops training when the pruner says
so. It stops the run rather than raising `TrialPruned` as Optuna's own callback does: a stopped run
still tests its best weights and writes its results.json, whose `pruned_at_epoch` tells the sweeper
to record the trial as PRUNED. Without a trial number (a plain run, a `dlrun resume` of a trial) or
a storage, pruning is off.
"""

from __future__ import annotations

import logging
import math

import pytorch_lightning as pl

log = logging.getLogger(__name__)


class OptunaPruning(pl.Callback):
    def __init__(
        self,
        monitor: str,
        storage: str | None,
        study_name: str | None,
        n_startup_trials: int = 5,
        n_warmup_steps: int = 3,
    ) -> None:
        self.monitor = monitor
        self.storage, self.study_name = storage, study_name
        self.n_startup_trials, self.n_warmup_steps = n_startup_trials, n_warmup_steps
        self.trial = None
        self.pruned_at_epoch: int | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        from dlrun.sweeps.trial_number import trial_number_of_this_job

        number = trial_number_of_this_job()
        if number is not None and self.storage and self.study_name and trainer.is_global_zero:
            self.trial = find_trial(self.storage, self.study_name, number, self.n_startup_trials, self.n_warmup_steps)
        if self.trial is None and trainer.is_global_zero:
            log.info("Optuna pruning is off: this job is not a running trial of a study in a storage.")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        prune = False
        if self.trial is not None and value is not None and math.isfinite(float(value)):
            self.trial.report(float(value), step=trainer.current_epoch)
            prune = self.trial.should_prune()
        # Only rank 0 holds the trial; every rank of a distributed run stops together.
        if trainer.strategy.broadcast(prune, src=0):
            self.pruned_at_epoch = trainer.current_epoch
            trainer.should_stop = True
            if self.trial is not None:
                log.warning(
                    f"Optuna pruned trial {self.trial.number} at epoch {trainer.current_epoch + 1}: {self.monitor} "
                    f"{float(value):.4g} is worse than the median of earlier trials there (its best so far counts)."
                )


def find_trial(storage: str, study_name: str, number: int, n_startup_trials: int, n_warmup_steps: int):
    """Trial `number` of the study, if it is running (the sweeper asked it and waits for it), else None."""
    import optuna
    from optuna.trial import TrialState

    from dlrun.sweeps.optuna_logging import quiet_optuna

    quiet_optuna()
    pruner = optuna.pruners.MedianPruner(n_startup_trials=n_startup_trials, n_warmup_steps=n_warmup_steps)
    try:
        study = optuna.load_study(study_name=study_name, storage=storage, pruner=pruner)
    except KeyError:  # no such study: not an Optuna sweep after all
        return None
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if frozen.number == number:
            return optuna.trial.Trial(study, frozen._trial_id)
    log.warning(f"Optuna pruning is off: the study {study_name} has no running trial {number}.")
    return None
