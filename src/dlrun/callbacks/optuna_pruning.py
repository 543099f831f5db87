"""Optuna's median pruning inside a trial that Hydra's Optuna sweeper launched.

The sweeper hands a job only its overrides, not the trial object, so Optuna's own Lightning callback
has nothing to report to. The study lives in a storage every job can open, though: this callback
finds its trial there (the running trial whose parameters are this job's overrides), reports the
monitored value each epoch, and stops training when the pruner says so. It stops the run rather
than raising `TrialPruned` as Optuna's callback does: under the sweeper a raise ends the job as a
failure, while a stopped run still tests its best weights and returns its best value, which the
sweeper tells the study. Without a storage (or outside an Optuna sweep) it does nothing.
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
        if self.storage and self.study_name:
            self.trial = find_trial(
                self.storage, self.study_name, job_overrides(), self.n_startup_trials, self.n_warmup_steps
            )
        if self.trial is None:
            log.info("Optuna pruning is off: this job is not a trial of a study in a storage.")

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.trial is None or trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        value = float(trainer.callback_metrics[self.monitor])
        if not math.isfinite(value):
            return
        self.trial.report(value, step=trainer.current_epoch)
        if self.trial.should_prune():
            self.pruned_at_epoch = trainer.current_epoch
            trainer.should_stop = True
            log.warning(
                f"Optuna pruned this trial at epoch {trainer.current_epoch + 1}: {self.monitor} {value:.4g} "
                "is worse than the median of earlier trials there (its best so far counts)."
            )


def job_overrides() -> dict[str, str]:
    from hydra.core.hydra_config import HydraConfig

    return dict(o.split("=", 1) for o in HydraConfig.get().overrides.task if "=" in o)


def find_trial(storage: str, study_name: str, overrides: dict[str, str], n_startup_trials: int, n_warmup_steps: int):
    """The running trial whose parameters are these overrides (as the sweeper wrote them), or None."""
    import optuna
    from optuna.trial import TrialState

    pruner = optuna.pruners.MedianPruner(n_startup_trials=n_startup_trials, n_warmup_steps=n_warmup_steps)
    try:
        study = optuna.load_study(study_name=study_name, storage=storage, pruner=pruner)
    except KeyError:  # no such study: not an Optuna sweep after all
        return None
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if frozen.params and all(overrides.get(name) == str(value) for name, value in frozen.params.items()):
            return optuna.trial.Trial(study, frozen._trial_id)
    return None
