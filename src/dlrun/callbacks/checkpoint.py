"""Lightning's ModelCheckpoint, plus the best weights as safetensors: a format that cannot carry code."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytorch_lightning as pl
from torch import nn

from dlrun.checkpoints import save_weights
from dlrun.epochs import EPOCH_BASE, EPOCH_BASE_FIELD, user_epoch

WEIGHTS_FILE = "weights.safetensors"


class ModelCheckpoint(pl.callbacks.ModelCheckpoint):
    """Writes `weights.safetensors` (the network's tensors alone) beside each new best checkpoint.

    A `.ckpt` is a pickle; people pass run dirs around, and this file is the one to share. It is
    written in the same hook that saved the best checkpoint, so the two hold the same weights.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._exported: tuple[str, float | None] | None = None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        self._export_new_best(trainer, pl_module)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        self._export_new_best(trainer, pl_module)

    def _export_new_best(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # The best file keeps its name ("best.ckpt") when overwritten: a new best shows in its score.
        score = None if self.best_model_score is None else float(self.best_model_score)
        best = (self.best_model_path, score)
        if not self.best_model_path or best == self._exported:
            return
        self._exported = best
        if trainer.is_global_zero:
            metadata = {
                "epoch": str(user_epoch(trainer.current_epoch)),  # the epoch that ends, as users number it
                EPOCH_BASE_FIELD: str(EPOCH_BASE),
                "monitor": str(self.monitor),
                "score": "" if score is None else f"{score:.6g}",
            }
            network = cast(nn.Module, pl_module.model)  # the task's network
            save_weights(network, Path(self.best_model_path).with_name(WEIGHTS_FILE), metadata)
