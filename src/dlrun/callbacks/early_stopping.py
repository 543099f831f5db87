"""Early stopping that puts the best weights back when training ends, as Keras does."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_info

from dlrun.epochs import user_epoch


class EarlyStopping(pl.callbacks.EarlyStopping):
    """Lightning's EarlyStopping, plus `restore_best_weights`.

    Without it, training ends `patience` epochs past the best epoch and the model in memory is the
    worse, last one. The snapshot is an in-memory copy taken whenever the monitored metric improves.
    """

    def __init__(self, *args, restore_best_weights: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.restore_best_weights = restore_best_weights
        self.best_epoch: int | None = None  # Lightning's 0-based epoch, as checkpoints keep it
        self._best_state: dict[str, torch.Tensor] | None = None
        self._snapshot_score: float | None = None

    def state_dict(self) -> dict:
        # The snapshot travels with the checkpoint, so a resumed run restores the same best weights.
        return {
            **super().state_dict(),
            "best_epoch": self.best_epoch,
            "snapshot_score": self._snapshot_score,
            "best_state": self._best_state,
        }

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        self.best_epoch = state_dict.pop("best_epoch", None)
        self._snapshot_score = state_dict.pop("snapshot_score", None)
        self._best_state = state_dict.pop("best_state", None)
        super().load_state_dict(state_dict)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        self._snapshot_if_improved(trainer, pl_module)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        self._snapshot_if_improved(trainer, pl_module)

    def _snapshot_if_improved(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not torch.isfinite(self.best_score):
            return
        score = float(self.best_score)
        if score == self._snapshot_score:
            return
        self._snapshot_score = score
        self.best_epoch = trainer.current_epoch
        if self.restore_best_weights:
            self._best_state = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.restore_best_weights and self._best_state is not None:
            pl_module.load_state_dict(self._best_state)
            rank_zero_info(
                f"Restored the best weights: epoch {user_epoch(self.best_epoch)}, {self.monitor}={self._snapshot_score:.4g}"
            )
