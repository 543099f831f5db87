"""Shared fixtures for the dlrun test suite."""

from __future__ import annotations

import pytest

# Small, quiet, CPU-only Lightning runs: no logger, checkpoints, progress bar or sanity check.
QUIET_TRAINER = dict(
    accelerator="cpu",
    devices=1,
    logger=False,
    enable_checkpointing=False,
    enable_progress_bar=False,
    enable_model_summary=False,
    num_sanity_val_steps=0,
    log_every_n_steps=1,
)


def quiet_trainer(root, **overrides):
    """A pytorch_lightning.Trainer writing under `root`, with QUIET_TRAINER's settings plus overrides."""
    import pytorch_lightning as pl  # imported lazily: the model tests must not need it

    return pl.Trainer(default_root_dir=str(root), **{**QUIET_TRAINER, **overrides})


@pytest.fixture
def make_trainer(tmp_path):
    """Factory: make_trainer(max_epochs=3, callbacks=[...]) -> a quiet CPU Trainer under tmp_path."""

    def make(**overrides):
        return quiet_trainer(tmp_path, **overrides)

    return make
