"""checkpoints/last.ckpt every N optimizer steps, inside epochs too, for runs whose epochs are long."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl

from dlrun.checks import check_number


class StepCheckpoint(pl.Callback):
    """Saves `dirpath/filename` after the training batch that reaches each multiple of
    `every_n_train_steps` optimizer steps (0 = never: epochs end with their own last.ckpt).

    A run resumed from it continues the epoch it was taken in, at the next batch: the loader's
    shuffle, the random generators and the epoch's running training metrics are in it (see
    InMemoryDataModule.state_dict). Lightning's `every_n_train_steps` needs the step count to land
    on a multiple at a batch's end; with several steps per batch (data.steps_per_execution) it
    seldom does, so this saves once a multiple has been passed.
    """

    def __init__(self, dirpath: str, every_n_train_steps: int = 0, filename: str = "last.ckpt") -> None:
        check_number(
            "callbacks.step_checkpoint.every_n_train_steps",
            every_n_train_steps,
            at_least=0,
            whole=True,
            unit="optimizer steps",
            meaning="0 for none",
        )
        self.path = Path(dirpath) / filename
        self.every_n_train_steps = every_n_train_steps
        self._saved_at_step = 0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._saved_at_step = trainer.global_step  # a resumed run counts from where it was

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        every = self.every_n_train_steps
        if every and trainer.global_step // every > self._saved_at_step // every:
            trainer.save_checkpoint(self.path)
            self._saved_at_step = trainer.global_step
