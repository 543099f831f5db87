"""`dlrun train [OVERRIDES]`: check the config, reserve the run dir, then hand the arguments to a
real Hydra run (a sweep with -m, through Hydra's sweepers and launchers)."""

from __future__ import annotations

import sys
from pathlib import Path

from hydra._internal.utils import get_args_parser
from omegaconf import OmegaConf

from dlrun.config.compose import ConfigSource
from dlrun.config.location import PRIMARY_CONFIG
from dlrun.config.validate import check_values_of, compose_checked
from dlrun.distributed import is_rank_zero
from dlrun.errors import ConfigError, user_error
from dlrun.hydra_job import launch, run_hydra, run_single
from dlrun.run_dir.reading import quoted
from dlrun.run_dir.reserving import reserve, run_dir_key
from dlrun.sweeps.preflight import check_sweep

# Hydra flags after which Hydra prints something and runs no job.
_NO_JOB_FLAGS = ("cfg", "info", "help", "hydra_help", "shell_completion", "experimental_rerun")


def train_command(args: list[str]) -> int:
    parsed = get_args_parser().parse_args(args)
    if any(getattr(parsed, flag, None) for flag in _NO_JOB_FLAGS) or not is_rank_zero():
        return run_hydra(lambda: launch(args))  # a DDP rank re-runs a job checked and given its dir by rank 0
    source = ConfigSource(parsed.config_dir, parsed.config_name or PRIMARY_CONFIG)
    key = run_dir_key(parsed.multirun)
    workers = None
    try:
        composed = compose_checked(source, parsed.overrides, multirun=parsed.multirun)
        if parsed.multirun:
            from dlrun.sweeps.joblib_workers import warm_workers

            workers = warm_workers(composed.cfg)
        checked = check_values_of(composed)
        chosen_by_user = any(o.key_or_group == key for o in checked.overrides)
        if parsed.multirun:
            check_sweep(checked.cfg, checked.overrides)
        run_dir = reserve(Path(str(OmegaConf.select(checked.cfg, key))), chosen_by_user)
    except ConfigError as e:
        if workers is not None:
            workers.stop()
        return user_error(str(e))
    if not parsed.multirun:
        return run_single(checked.cfg, source, run_dir)
    pinned = [] if chosen_by_user else [f"{key}={quoted(run_dir)}"]
    try:
        if workers is not None:
            workers.ready()
        code = run_hydra(lambda: launch(args + pinned, raise_errors=True))
    except Exception as e:  # the sweeper's or launcher's own failure; the summary below says what ran
        print(f"Error: the sweep stopped: {type(e).__name__}: {' '.join(str(e).split())}", file=sys.stderr)
        code = 1
    finally:
        if workers is not None:
            workers.stop()
    from dlrun.sweeps.summary import summarize_sweep

    return summarize_sweep(run_dir) or code
