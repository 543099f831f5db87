"""Lightning's WandbLogger as `logger=wandb` builds it: offline into the run dir, named by the run's
overrides; `wandb sync <run dir>/wandb/offline-run-*` uploads it later."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import WandbLogger

from dlrun.tensorboard_hparams import run_name
from dlrun.trackers.extras import require


class WandbRunLogger(WandbLogger):
    """WandbLogger with `name` the job's overrides (as its TensorBoard run; "defaults" when there are
    none) and offline by default: W&B's service writes `<save_dir>/wandb/offline-run-<time>-<id>/`
    and nothing is sent anywhere (`mode="offline"` as well as Lightning's WANDB_MODE, so W&B never
    tries to reach its server). A resumed run dir starts a new W&B run of the same name beside the
    first: an offline run cannot be continued, only synced."""

    def __init__(
        self,
        name: str | None = None,
        save_dir: str | Path = ".",
        offline: bool = True,
        project: str | None = "dlrun",
        **kwargs: Any,
    ) -> None:
        require("wandb", "wandb")
        if offline:
            kwargs.setdefault("mode", "offline")
        if "settings" not in kwargs:
            import wandb

            # W&B's own lines (its banner, a chart of every metric at the end) would bury the epoch lines
            # in the terminal and train.log; dlrun's summary says how to sync the run.
            kwargs["settings"] = wandb.Settings(silent=True)
        named = None if name is None else (run_name(name) or "defaults")
        super().__init__(name=named, save_dir=save_dir, offline=offline, project=project, **kwargs)
        if "anonymous" not in kwargs:
            # Lightning always passes it (None by default), and W&B 0.31 warns on every run that it
            # no longer has any effect.
            self._wandb_init.pop("anonymous", None)
