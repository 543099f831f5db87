"""`dlrun show [OVERRIDES]`: the composed, resolved config, checked as `dlrun train` checks it."""

from __future__ import annotations

import sys

from hydra._internal.utils import get_args_parser
from omegaconf import DictConfig, OmegaConf

from dlrun.config.compose import ConfigSource, job_config
from dlrun.config.location import PRIMARY_CONFIG
from dlrun.config.validate import check
from dlrun.errors import ConfigError, user_error


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
    from dlrun.building import build_data, build_task

    cache_path = getattr(build_data(cfg), "cache_path", None)
    if cache_path is not None and not cache_path().is_file():
        print(
            f"dlrun: {cfg.data._target_} makes its data on the first run; the model, loss and monitor are "
            "checked against it then.",
            file=sys.stderr,
        )
        return
    build_task(cfg)
