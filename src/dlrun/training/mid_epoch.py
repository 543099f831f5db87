"""Where a checkpoint taken inside an epoch stands, for what has to continue that epoch exactly."""

from __future__ import annotations

import pytorch_lightning as pl


def batches_done_in_epoch(trainer: pl.Trainer | None) -> int:
    """Training batches of the current epoch that have stepped, when a checkpoint is saved inside
    an epoch (after a batch, by callbacks.step_checkpoint); 0 at an epoch's end or outside fit.

    Lightning calls on_train_batch_end before it counts the batch completed, so the count is the
    batches processed: on restore it marks the batch completed and goes on with the next one.
    """
    if trainer is None or not trainer.training:
        return 0
    # A _ProcessedTracker, declared as its base class in Lightning.
    done = trainer.fit_loop.epoch_loop.batch_progress.current.processed  # type: ignore[attr-defined]
    return done if 0 < done < trainer.num_training_batches else 0
