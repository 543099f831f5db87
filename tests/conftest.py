"""Shared test set-up: no network for the tests or the processes they start, and a `dlrun` runner."""

from __future__ import annotations

import functools
import importlib.util
import os
import tempfile
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

NO_NETWORK = Path(__file__).resolve().parent / "no_network"


def _block_network_here() -> None:
    """Apply no_network/sitecustomize.py to pytest's own process as well."""
    spec = importlib.util.spec_from_file_location("_dlrun_tests_no_network", NO_NETWORK / "sitecustomize.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


_block_network_here()
# The key that signs runs (dlrun.trust.signature) lives in the user's data dir: keep the tests' key
# out of the real one, shared by this process and every dlrun it starts.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="dlrun-tests-data-")
# Tiny models run faster on one thread, and timings stay sane when other processes share the cores:
# trainer.threads=auto keeps a user's OMP_NUM_THREADS, here and in every dlrun the tests start.
os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)


def dlrun_env() -> dict[str, str]:
    """The environment for processes the tests start: sitecustomize on PYTHONPATH blocks the network."""
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(NO_NETWORK), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("HYDRA_FULL_ERROR", None)
    return env


@pytest.fixture
def dlrun(tmp_path):
    """dlrun(*args) runs `python -m dlrun *args` in a fresh directory, as a user would."""

    from helpers import run_cli

    return functools.partial(run_cli, tmp_path)


def make_trainer(root, **overrides) -> pl.Trainer:
    """A quiet CPU Trainer for tests that fit a task directly."""
    settings = dict(
        max_epochs=3,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        default_root_dir=str(root),
    )
    settings.update(overrides)
    return pl.Trainer(**settings)


def build_from_overrides(tmp_path, *overrides: str):
    """Compose the config as `dlrun train OVERRIDES` would and build its run, in this process.

    Much faster than a subprocess; `debug=fast` and no logger unless the overrides say otherwise.
    Returns dlrun.building.Run (datamodule, task, trainer, history): call
    `run.trainer.fit(run.task, datamodule=run.datamodule)` to train.
    """
    from dlrun.building import build_run
    from dlrun.config.compose import ConfigSource

    cfg = ConfigSource().compose(["debug=fast", "logger=none", f"hydra.run.dir={tmp_path}/run", *overrides])
    return build_run(cfg)


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "payload-ran"
    yield path
    assert not path.exists(), "the checkpoint's payload ran"
