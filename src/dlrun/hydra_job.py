"""The Hydra entry behind `dlrun train`: a real Hydra run, so sweepers and launchers all work."""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import hydra
from hydra._internal.callbacks import Callbacks
from hydra.conf import HydraConf
from hydra.core.config_loader import ConfigLoader
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import configure_log, run_job
from hydra.types import HydraContext, RunMode
from omegaconf import DictConfig, open_dict, read_write

from dlrun.config.compose import ConfigSource
from dlrun.config.location import PRIMARY_CONFIG, config_dir
from dlrun.errors import USER_ERROR_EXIT_CODE, DlrunError, TrainingDiverged
from dlrun.provenance import command_line, now_iso
from dlrun.results import RunResult, print_summary


def launch(hydra_args: list[str], raise_errors: bool = False) -> None:
    """Run Hydra's own command line (overrides, -m, --config-dir, --cfg, ...) on these arguments.

    With `raise_errors`, what the sweeper or launcher raises reaches the caller instead of Hydra's
    printed stack trace (jobs record their own failures, see `job`).
    """
    GlobalHydra.instance().clear()  # the pre-flight check composed with its own Hydra instance
    if raise_errors:
        os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra's run_and_report then re-raises rather than prints
    sys.argv = ["dlrun train", *hydra_args]
    main = hydra.main(version_base="1.3", config_path=str(config_dir()), config_name=PRIMARY_CONFIG)(job)
    main()


def run_single(cfg: DictConfig, source: ConfigSource, run_dir: Path, output_subdir: str | None = None) -> int:
    """Run a checked single-run config in `run_dir` (its .hydra files under `output_subdir`)."""
    with read_write(cfg.hydra), open_dict(cfg.hydra):
        cfg.hydra.run.dir = str(run_dir)
        if output_subdir is not None:
            cfg.hydra.output_subdir = output_subdir
    return run_hydra(lambda: run_composed(cfg, source.hydra.config_loader, source.config_name))


def run_hydra(start: Callable[[], None]) -> int:
    """The exit code of a Hydra run: Hydra ends a failed one with SystemExit."""
    try:
        start()
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1
    return 0


def run_composed(cfg: DictConfig, config_loader: ConfigLoader, config_name: str) -> None:
    """One run of a config the pre-flight check has composed: what Hydra's `run` does after it has
    composed (callbacks, the job's dir, its .hydra files and logging), without composing it again.

    `hydra.main` composes a single run twice more (once to read its mode, once to run it), a
    quarter of a second each; sweeps still go through `launch`, since sweepers and launchers
    compose every job themselves.
    """
    with read_write(cfg.hydra):
        cfg.hydra.mode = RunMode.RUN
    configure_log(cfg.hydra.hydra_logging, cfg.hydra.verbose)
    callbacks = Callbacks(cfg)
    callbacks.on_run_start(config=cfg, config_name=config_name)
    ret = run_job(
        hydra_context=HydraContext(config_loader=config_loader, callbacks=callbacks),
        task_function=job,
        config=cfg,
        job_dir_key="hydra.run.dir",
        job_subdir_key=None,
    )
    callbacks.on_run_end(config=cfg, config_name=config_name, job_return=ret)
    ret.return_value  # raises what the job raised  # noqa: B018


def job(cfg: DictConfig) -> float | None:
    """One run in its own dir; returns the best monitored value for sweepers (Optuna) to optimize.

    In a sweep a failing job is recorded in its own results.json (status and a one-line error) and
    returns None instead of raising (dlrun's Optuna sweeper tells the study a FAIL trial, see
    sweeps/trial_outcome.py), so every other job still runs: Hydra's launchers re-raise the
    first failure only after their batch, and skip the batches after it. The sweep's summary (see
    sweeps/summary.py) then reports every failure and sets the exit code. A single run raises, so
    its exit code says what happened.
    """
    from dlrun.run_log import job_log

    hydra_cfg = HydraConfig.get()
    if hydra_cfg.runtime.choices.get("hydra/sweeper") == "optuna":
        from dlrun.sweeps.optuna_logging import quiet_optuna

        quiet_optuna()  # a joblib worker opens the study afresh, and alembic announces its plugins
    # Everything the job prints, its summary and its error included, goes to its log as well.
    with job_log(Path(hydra_cfg.runtime.output_dir), hydra_cfg.job.name):
        return _run(cfg, hydra_cfg)


def _run(cfg: DictConfig, hydra_cfg: HydraConf) -> float | None:
    from dlrun.fit_and_test import run_experiment  # heavy imports after Hydra has parsed the args

    in_sweep = hydra_cfg.mode == RunMode.MULTIRUN
    choices = {k: str(v) for k, v in hydra_cfg.runtime.choices.items() if not k.startswith("hydra")}
    result = RunResult(
        run_dir=hydra_cfg.runtime.output_dir,
        overrides=list(hydra_cfg.overrides.task),
        monitor=cfg.monitor,
        monitor_mode=cfg.monitor_mode,
        seed=cfg.seed,
        command_line=command_line(list(hydra_cfg.overrides.task)),
        started_at=now_iso(),
    )
    if hydra_cfg.runtime.choices.get("hydra/launcher") == "joblib":
        from dlrun.process_exit import skip_final_collection
        from dlrun.sweeps.parallel_jobs import share_machine

        skip_final_collection()  # the worker's exit would otherwise hold up the sweep's end by seconds
        threads, gpu = share_machine(hydra_cfg.job.num, int(hydra_cfg.launcher.n_jobs))
        print(
            f"dlrun: parallel job {hydra_cfg.job.num}: {threads} torch threads, " + (f"GPU {gpu}" if gpu else "CPU"),
            flush=True,
        )
    started = time.perf_counter()
    result.write()
    _sign(result)
    try:
        run_experiment(cfg, result, choices)
    except DlrunError as e:
        _finish(result, "diverged" if isinstance(e, TrainingDiverged) else "failed", started, error=str(e))
        print(f"Error: {e}", file=sys.stderr)
        if in_sweep:
            return None
        raise SystemExit(USER_ERROR_EXIT_CODE) from None
    except KeyboardInterrupt:
        _finish(result, "interrupted", started)
        raise
    except BaseException as e:
        _finish(
            result,
            "interrupted" if isinstance(e, SystemExit) else "failed",
            started,
            error="".join(traceback.format_exception_only(e)).strip(),
        )
        if in_sweep and isinstance(e, Exception):
            traceback.print_exc()
            return None
        raise
    _finish(result, "completed", started)
    print_summary(result)
    return result.best_value


def _finish(result: RunResult, status: str, started: float, error: str | None = None) -> None:
    result.status = status
    result.error = error
    result.wall_time_s = time.perf_counter() - started
    result.ended_at = now_iso()
    result.write()
    _sign(result)  # again: the other processes of a DDP run may have written their .hydra files since


def _sign(result: RunResult) -> None:
    """Mark the run dir as this user's, so the verbs that open it later trust its config."""
    from pathlib import Path

    from dlrun.distributed import is_rank_zero
    from dlrun.trust.signature import sign

    if is_rank_zero():
        sign(Path(result.run_dir))
