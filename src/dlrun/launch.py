"""What the CLI verbs do, with Hydra imported only once a verb runs."""

from __future__ import annotations

from pathlib import Path

from hydra._internal.utils import get_args_parser
from omegaconf import OmegaConf

from dlrun.cli import user_error
from dlrun.config.compose import ConfigSource, job_config
from dlrun.config.location import PRIMARY_CONFIG
from dlrun.config.run_dir import reserve, run_dir_key
from dlrun.config.validate import check
from dlrun.errors import ConfigError, unknown_choice

# Hydra flags after which Hydra prints something and runs no job.
_NO_JOB_FLAGS = ("cfg", "info", "help", "hydra_help", "shell_completion", "experimental_rerun")


def train_command(args: list[str]) -> int:
    parsed = get_args_parser().parse_args(args)
    if any(getattr(parsed, flag, None) for flag in _NO_JOB_FLAGS):
        return _run_hydra(args)
    source = ConfigSource(parsed.config_dir, parsed.config_name or PRIMARY_CONFIG)
    key = run_dir_key(parsed.multirun)
    try:
        checked = check(source, parsed.overrides, multirun=parsed.multirun)
        chosen_by_user = any(o.key_or_group == key for o in checked.overrides)
        extra = check_sweep(checked.cfg) if parsed.multirun else []
        run_dir = reserve(Path(str(OmegaConf.select(checked.cfg, key))), chosen_by_user)
    except ConfigError as e:
        return user_error(str(e))
    pinned = extra + ([] if chosen_by_user else [f"{key}={_quote(run_dir)}"])
    code = _run_hydra(args + pinned)
    if not parsed.multirun:
        return code
    from dlrun.sweep_summary import summarize_sweep

    return summarize_sweep(run_dir) or code


def check_sweep(cfg) -> list[str]:
    """Before any job of a sweep runs: its first job's monitor is a metric the task logs, and an
    Optuna sweeper optimizes in monitor_mode's direction (Optuna alone would silently minimize).
    Returns overrides to add: a resumed study's sampler seed moves past the trials it holds."""
    from dlrun.experiment import build_task

    build_task(job_config(cfg))
    if cfg.hydra.runtime.choices.get("hydra/sweeper") != "optuna":
        return []
    sweeper = cfg.hydra.sweeper
    expected = {"max": "maximize", "min": "minimize"}[cfg.monitor_mode]
    direction = str(OmegaConf.select(sweeper, "direction"))
    if direction.rsplit(".", 1)[-1] != expected:
        raise ConfigError(
            f"hydra.sweeper.direction is {direction}, but monitor_mode is {cfg.monitor_mode} ({cfg.monitor}): "
            f"the study would optimize the wrong way. Drop the direction override (the presets derive it, "
            f"hydra.sweeper.direction=${{monitor_mode}}imize) or set hydra.sweeper.direction={expected}."
        )
    done = trials_in_study(sweeper.storage, sweeper.study_name)
    print(f"dlrun: Optuna will {expected} {cfg.monitor} over {sweeper.n_trials} trials "
          f"(study {sweeper.study_name}{f', resumed after {done} trials' if done else ''}, storage {sweeper.storage})",
          flush=True)
    seed = OmegaConf.select(sweeper, "sampler.seed")
    # The same seed would make a resumed study repeat its first (random) trials exactly.
    return [f"hydra.sweeper.sampler.seed={seed + done}"] if done and isinstance(seed, int) else []


SQLITE = "sqlite:///"


def trials_in_study(storage: str | None, study_name: str | None) -> int:
    """How many trials the stored study already has (0 without storage or before its first run)."""
    if not storage or not study_name:
        return 0
    if storage.startswith(SQLITE):
        database = Path(storage[len(SQLITE):])
        if not database.is_file():
            database.parent.mkdir(parents=True, exist_ok=True)  # sqlite makes the file, not its dir
            return 0
    import optuna

    try:
        return len(optuna.load_study(study_name=study_name, storage=storage).trials)
    except KeyError:
        return 0


def show_command(args: list[str]) -> int:
    parsed = get_args_parser().parse_args(args)
    source = ConfigSource(parsed.config_dir, parsed.config_name or PRIMARY_CONFIG)
    try:
        cfg = check(source, parsed.overrides).cfg
    except ConfigError as e:
        return user_error(str(e))
    print(OmegaConf.to_yaml(job_config(cfg), resolve=True), end="")
    return 0


def list_command(group: str | None, config_dir: str | None) -> int:
    source = ConfigSource(config_dir)
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


def _run_hydra(args: list[str]) -> int:
    from dlrun.run import launch

    try:
        launch(args)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1
    return 0


def _quote(path: Path) -> str:
    """Quote a path for Hydra's override grammar."""
    text = str(path).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"
