"""Compose configs the way a real `dlrun train` run would, for `show`, `ls` and the pre-flight check.

Hydra's Compose API cannot take `--config-dir`, so this builds Hydra's search path the same way
`hydra.main` does and asks Hydra's own config loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hydra._internal.hydra import Hydra
from hydra._internal.utils import create_automatic_config_search_path
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.object_type import ObjectType
from hydra.core.utils import setup_globals
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

from dlrun.config.location import PRIMARY_CONFIG, config_dir


@dataclass
class ConfigSource:
    """Where configs come from: the packaged tree plus an optional user dir (Hydra's --config-dir)."""

    user_config_dir: str | None = None
    config_name: str = PRIMARY_CONFIG
    _hydra: Hydra | None = field(default=None, init=False, repr=False)
    _groups: list[str] | None = field(default=None, init=False, repr=False)

    @property
    def hydra(self) -> Hydra:
        if self._hydra is None:
            search_path = create_automatic_config_search_path(None, None, str(config_dir()))
            if self.user_config_dir:
                search_path.prepend("command-line", f"file://{Path(self.user_config_dir).resolve()}")
            setup_globals()  # Hydra's `now` and `hydra` resolvers, as hydra.main registers them
            GlobalHydra.instance().clear()
            self._hydra = Hydra.create_main_hydra2(task_name="dlrun", config_search_path=search_path)
        return self._hydra

    def compose(self, overrides: list[str], multirun: bool = False) -> DictConfig:
        """The full config (with its `hydra` node) as a run would see it; raises Hydra's errors."""
        cfg = self.hydra.compose_config(
            self.config_name,
            overrides,
            run_mode=RunMode.MULTIRUN if multirun else RunMode.RUN,
            with_log_configuration=False,
            validate_sweep_overrides=False,
        )
        # A real run sets hydra.runtime.output_dir; mirror it so `${hydra:...}` resolves here too.
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(
                OmegaConf.select(cfg, "hydra.sweep.dir" if multirun else "hydra.run.dir")
            )
        HydraConfig.instance().set_config(cfg)
        return cfg

    def is_group(self, name: str) -> bool:
        """Whether `name` is a config group (`model`, `hydra/launcher`): one look in each search path
        entry, where `groups()` walks them all."""
        # ConfigLoaderImpl's repository: Hydra's ConfigLoader interface does not declare it.
        return self.hydra.config_loader.repository.group_exists(name)  # type: ignore[attr-defined]

    def groups(self) -> list[str]:
        # Hydra walks every search-path entry for this (most of a second); the groups of one source
        # never change.
        if self._groups is None:
            self._groups = sorted(self.hydra.list_all_config_groups())
        return list(self._groups)

    def options(self, group: str) -> list[str]:
        return self.hydra.config_loader.get_group_options(group, results_filter=ObjectType.CONFIG)

    def description(self, group: str, option: str) -> str:
        """The first comment line of an option's YAML file: its one-line description."""
        for source in self.hydra.config_loader.get_sources():
            if source.scheme() != "file":
                continue
            path = Path(source.path) / group / f"{option}.yaml"
            if path.is_file():
                return first_comment(path.read_text())
        return ""


def first_comment(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#") and not line.startswith("# @"):
            return line.lstrip("#").strip()
        if line and not line.startswith("#"):
            break
    return ""


def job_config(cfg: DictConfig) -> DictConfig:
    """The config without Hydra's own node: what the job sees and what `show` prints."""
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.pop("hydra", None)
    return cfg
