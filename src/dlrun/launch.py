"""What the CLI verbs do, with Hydra imported only once a verb runs."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from hydra._internal.utils import get_args_parser
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from dlrun.cli import user_error
from dlrun.config.compose import ConfigSource, job_config
from dlrun.config.location import PRIMARY_CONFIG
from dlrun.run_dir.reserving import reserve, run_dir_key
from dlrun.config.validate import check, check_config_dir, check_values_of, compose_checked
from dlrun.distributed import is_rank_zero
from dlrun.errors import ConfigError, unknown_choice
from dlrun.sweeps.preflight import check_sweep

# Hydra flags after which Hydra prints something and runs no job.
_NO_JOB_FLAGS = ("cfg", "info", "help", "hydra_help", "shell_completion", "experimental_rerun")


def train_command(args: list[str]) -> int:
    parsed = get_args_parser().parse_args(args)
    if any(getattr(parsed, flag, None) for flag in _NO_JOB_FLAGS) or not is_rank_zero():
        return _run_hydra(lambda run: run.launch(args))  # a DDP rank re-runs a job checked and given its dir by rank 0
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
        extra = check_sweep(checked.cfg, checked.overrides) if parsed.multirun else []
        run_dir = reserve(Path(str(OmegaConf.select(checked.cfg, key))), chosen_by_user)
        if parsed.multirun:
            from dlrun.sweeps.hparam_keys import sweep_hparam_keys, write_keys

            write_keys(run_dir, sweep_hparam_keys(source, checked.overrides))
    except ConfigError as e:
        if workers is not None:
            workers.stop()
        return user_error(str(e))
    if not parsed.multirun:
        return run_single(checked.cfg, source, run_dir)
    pinned = extra + ([] if chosen_by_user else [f"{key}={_quote(run_dir)}"])
    try:
        if workers is not None:
            workers.ready()
        code = _run_hydra(lambda run: run.launch(args + pinned, raise_errors=True))
    except Exception as e:  # the sweeper's or launcher's own failure; the summary below says what ran
        print(f"Error: the sweep stopped: {type(e).__name__}: {' '.join(str(e).split())}", file=sys.stderr)
        code = 1
    finally:
        if workers is not None:
            workers.stop()
    from dlrun.sweeps.summary import summarize_sweep

    return summarize_sweep(run_dir) or code


def show_command(args: list[str]) -> int:
    parsed = get_args_parser().parse_args(args)
    source = ConfigSource(parsed.config_dir, parsed.config_name or PRIMARY_CONFIG)
    try:
        cfg = check(source, parsed.overrides).cfg
        _check_data_and_task(job_config(cfg))
    except ConfigError as e:
        return user_error(str(e))
    print(OmegaConf.to_yaml(job_config(cfg), resolve=True), end="")
    return 0


def _check_data_and_task(cfg: DictConfig) -> None:
    """Refuse what `dlrun train` refuses once it has the data, before its first step: a loss for
    another kind of task, a model for other inputs, a monitor the task does not log. The data and
    the task are built as the sweep pre-flight builds them, writing nothing; data generated on its
    first use (synthesized speech) is not, for that writes a cache and takes a while."""
    from dlrun.experiment import build_data, build_task

    cache_path = getattr(build_data(cfg), "cache_path", None)
    if cache_path is not None and not cache_path().is_file():
        print(
            f"dlrun: {cfg.data._target_} makes its data on the first run; the model, loss and monitor are "
            "checked against it then.",
            file=sys.stderr,
        )
        return
    build_task(cfg)


def list_command(group: str | None, config_dir: str | None) -> int:
    source = ConfigSource(config_dir)
    try:
        check_config_dir(source)
    except ConfigError as e:
        return user_error(str(e))
    groups = [g for g in source.groups() if not g.startswith("hydra")]
    if group is not None:
        if group not in source.groups():
            return user_error(str(unknown_choice("config group", group, groups)))
        groups = [group]
    try:
        defaults = source.compose([]).hydra.runtime.choices
    except Exception:  # a broken user config should not stop the listing
        defaults = {}
    for name in groups:
        options = [o for o in source.options(name) if not o.startswith("_")]
        print(f"{name}:")
        width = max((len(o) for o in options), default=0)
        for option in options:
            marker = "*" if defaults.get(name) == option else " "
            print(f"  {marker} {option:<{width}}  {source.description(name, option)}")
    print("\n* = default.  Pick one with GROUP=OPTION, e.g. `dlrun train model=cnn`.")
    return 0


def run_single(cfg: DictConfig, source: ConfigSource, run_dir: Path, output_subdir: str | None = None) -> int:
    """Run a checked single-run config in `run_dir` (its .hydra files under `output_subdir`)."""
    with read_write(cfg.hydra), open_dict(cfg.hydra):
        cfg.hydra.run.dir = str(run_dir)
        if output_subdir is not None:
            cfg.hydra.output_subdir = output_subdir
    return _run_hydra(lambda run: run.run_composed(cfg, source.hydra.config_loader, source.config_name))


def _run_hydra(start: Callable[[ModuleType], None]) -> int:
    """Exit code of `start(dlrun.hydra_job)`; the job module (and what a run imports) loads only here."""
    from dlrun import hydra_job

    try:
        start(hydra_job)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1
    return 0


def _quote(path: Path) -> str:
    """Quote a path for Hydra's override grammar."""
    text = str(path).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"
