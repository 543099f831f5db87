"""Fitting and testing one run: fit (resuming where `dlrun resume` says), test on the best weights,
and fill the run's result and TensorBoard's HPARAMS with the outcome."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import pytorch_lightning as pl
from omegaconf import DictConfig

from dlrun.building import Run, build_run
from dlrun.callbacks import Diagnostics, EarlyStopping
from dlrun.checkpoints import load_checkpoint
from dlrun.distributed import command_line_of_this_job, is_rank_zero
from dlrun.epochs import history_for_users, user_epoch
from dlrun.results import RunResult
from dlrun.tensorboard_hparams import hparams_of
from dlrun.trackers.sinks import Sinks, closing_trackers, look_at_commands

# Set by `dlrun resume` (an environment variable, so the processes DDP starts see it too): the
# checkpoint this run continues from.
RESUME_CHECKPOINT = "DLRUN_RESUME_CHECKPOINT"


def run_experiment(cfg: DictConfig, result: RunResult, choices: dict[str, str]) -> RunResult:
    """Fit, test on the best weights, and fill `result` and TensorBoard's HPARAMS with the outcome."""
    started = time.perf_counter()
    run = build_run(cfg)
    with closing_trackers(run.trainer.loggers):
        return _fit_and_test(cfg, run, result, choices, started)


def _fit_and_test(cfg: DictConfig, run: Run, result: RunResult, choices: dict[str, str], started: float) -> RunResult:
    trainer = run.trainer
    result.look_at = look_at_commands(trainer.loggers, result.run_dir)
    if is_rank_zero():
        run.datamodule.save_preprocessing(Path(result.run_dir))
    resume_from = os.environ.get(RESUME_CHECKPOINT)
    if resume_from:
        load_checkpoint(resume_from)  # refuses a checkpoint that carries code before Lightning reads it
    with _as_one_job_for_ddp(trainer, result):
        try:
            trainer.fit(run.task, datamodule=run.datamodule, ckpt_path=resume_from or None, weights_only=True)
        finally:  # the threads are chosen as fitting starts; a run that fails records them too
            result.record_device(trainer)
        result.epochs = trainer.current_epoch
        result.history = history_for_users(run.history.epochs)
        result.best_value, best_index = run.history.best(cfg.monitor, cfg.monitor_mode)
        result.best_epoch = user_epoch(best_index)
        result.tested_on = use_best_weights(trainer, run.task)
        tested = trainer.test(run.task, datamodule=run.datamodule, verbose=False)
    result.test_metrics = {k: float(v) for k, v in (tested[0] if tested else {}).items()}
    result.baselines = run.datamodule.baselines()
    result.extras = run.task.test_extras()
    for callback in trainer.callbacks:  # type: ignore[attr-defined]  # set by Lightning's connector
        if getattr(callback, "pruned_at_epoch", None) is not None:
            result.extras["pruned_at_epoch"] = user_epoch(callback.pruned_at_epoch)
        if isinstance(callback, Diagnostics):
            result.extras["diagnostics"] = callback.last_epoch_figures()
            result.findings = callback.findings()
    result.wall_time_s = time.perf_counter() - started

    # Only this run's own names: TensorBoard joins the runs' names itself, and marks what varies.
    # The same hyperparameters and final metrics go to MLflow's params and W&B's config and summary.
    params = hparams_of(cfg, choices)
    metrics = dict(result.test_metrics)
    if result.best_value is not None:
        metrics[f"best/{cfg.monitor}"] = result.best_value
    if is_rank_zero():
        Sinks.of(trainer.loggers).summary(params, metrics, step=trainer.global_step)
    return result


def _as_one_job_for_ddp(trainer: pl.Trainer, result: RunResult):
    """The ranks DDP starts must re-run this job in its dir (see dlrun.distributed)."""
    from hydra.core.hydra_config import HydraConfig

    if trainer.num_devices * trainer.num_nodes > 1 and HydraConfig.initialized():
        return command_line_of_this_job(str(Path(result.run_dir).resolve()), result.overrides)
    return contextlib.nullcontext()


def use_best_weights(trainer: pl.Trainer, task: pl.LightningModule) -> str:
    """Put the best weights into `task` for testing and say which they are.

    Early stopping may have restored them in memory already; otherwise they come from the best
    checkpoint through the safe loader (never Lightning's `ckpt_path`, which unpickles by itself).
    """
    for callback in trainer.callbacks:  # type: ignore[attr-defined]  # set by Lightning's connector
        if isinstance(callback, EarlyStopping) and callback.restore_best_weights and callback.best_epoch is not None:
            return f"best (epoch {user_epoch(callback.best_epoch)}, restored by early stopping)"
    best_path = str(getattr(trainer.checkpoint_callback, "best_model_path", "") or "")
    if best_path:
        task.load_state_dict(load_checkpoint(best_path)["state_dict"])
        return f"best ({Path(best_path).name})"
    return "last"
