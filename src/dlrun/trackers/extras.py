"""The MLflow and W&B loggers need the `trackers` extra; without it, `logger=mlflow` must fail before
a run dir is made, with the command that installs it."""

from __future__ import annotations

import importlib.util

from omegaconf import DictConfig

from dlrun.errors import ConfigError

INSTALL = "pip install -e '.[trackers]'"
# Logger classes (as a config's `_target_` names them) -> the package they need.
NEEDS = {
    "dlrun.trackers.mlflow_run.MLflowRunLogger": "mlflow",
    "dlrun.trackers.wandb_run.WandbRunLogger": "wandb",
    "pytorch_lightning.loggers.MLFlowLogger": "mlflow",
    "pytorch_lightning.loggers.mlflow.MLFlowLogger": "mlflow",
    "pytorch_lightning.loggers.WandbLogger": "wandb",
    "pytorch_lightning.loggers.wandb.WandbLogger": "wandb",
}


def missing_extra(option: str, package: str) -> ConfigError | None:
    """The error for `logger=<option>` when `package` cannot be imported, else None."""
    if importlib.util.find_spec(package) is not None:
        return None
    return ConfigError(
        f"logger={option} needs the trackers extra: {INSTALL} (or pip install {package}); "
        f"{package} is not installed. Other loggers need nothing more: logger=tensorboard, csv, many or none."
    )


def require(package: str, option: str) -> None:
    """Called by the logger classes themselves, for a run dir rebuilt where the extra is missing."""
    error = missing_extra(option, package)
    if error is not None:
        raise error


def check_trackers_installed(cfg: DictConfig) -> None:
    """Before anything runs: every logger the config chooses has its package."""
    for option, node in (cfg.get("logger") or {}).items():
        package = NEEDS.get(str(node.get("_target_"))) if isinstance(node, DictConfig) else None
        if package is not None:
            require(package, str(option))
