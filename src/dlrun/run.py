"""The Hydra entry behind `dlrun train`: a real Hydra run, so sweepers and launchers all work."""

from __future__ import annotations

import sys
import time
import traceback

import hydra
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from dlrun.config.location import PRIMARY_CONFIG, config_dir
from dlrun.errors import USER_ERROR_EXIT_CODE, DlrunError, TrainingDiverged
from dlrun.provenance import command_line, now_iso
from dlrun.results import RunResult, print_summary


def launch(hydra_args: list[str]) -> None:
    """Run Hydra's own command line (overrides, -m, --config-dir, --cfg, ...) on these arguments."""
    GlobalHydra.instance().clear()  # the pre-flight check composed with its own Hydra instance
    sys.argv = ["dlrun train", *hydra_args]
    main = hydra.main(version_base="1.3", config_path=str(config_dir()), config_name=PRIMARY_CONFIG)(job)
    main()


def job(cfg: DictConfig) -> float | None:
    """One run in its own dir; returns the best monitored value for sweepers (Optuna) to optimize.

    In a sweep a failing job is recorded in its own results.json (status and a one-line error) and
    returns None instead of raising (Optuna's sweeper tells the study a FAIL trial: NaN would make
    its `tell` raise twice and end the study), so every other job still runs: Hydra's launchers re-raise the
    first failure only after their batch, and skip the batches after it. The sweep's summary (see
    sweeps/summary.py) then reports every failure and sets the exit code. A single run raises, so
    its exit code says what happened.
    """
    from dlrun.experiment import run_experiment  # heavy imports after Hydra has parsed the args

    hydra_cfg = HydraConfig.get()
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
        from dlrun.sweeps.parallel_jobs import share_machine

        threads, gpu = share_machine(hydra_cfg.job.num, int(hydra_cfg.launcher.n_jobs))
        print(f"dlrun: parallel job {hydra_cfg.job.num}: {threads} torch threads, " + (f"GPU {gpu}" if gpu else "CPU"), flush=True)
    started = time.perf_counter()
    result.write()
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
        _finish(result, "interrupted" if isinstance(e, SystemExit) else "failed", started,
                error="".join(traceback.format_exception_only(e)).strip())
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
