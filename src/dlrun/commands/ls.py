"""`dlrun ls [GROUP]`: the config groups and their options, each with its one-line description."""

from __future__ import annotations

from dlrun.config.compose import ConfigSource
from dlrun.config.validate import check_config_dir
from dlrun.errors import ConfigError, unknown_choice, user_error


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
