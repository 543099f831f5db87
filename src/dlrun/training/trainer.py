"""Lightning's Trainer with one setting more, `threads`: the CPU threads torch computes with
(`auto`, or a number; see dlrun.threads for how `auto` chooses).

The choice is made when fitting or testing starts, the first moment the model and its data are
both known, and kept in `thread_choice` for the run's provenance.
"""

from __future__ import annotations

import os
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.flop_counter import FlopCounterMode

from dlrun import threads as machine_threads
from dlrun.checks import check_number
from dlrun.threads import NUM_THREADS, ThreadChoice, ThreadsSetting, choose_threads


class Trainer(pl.Trainer):
    """pl.Trainer(**kwargs), whose fits and tests compute with `threads` CPU threads."""

    def __init__(self, *, threads: ThreadsSetting = "auto", callbacks: Any = None, **kwargs: Any) -> None:
        if threads != "auto":
            check_number("trainer.threads", threads, at_least=1, whole=True, hint="or auto")
        self.threads_callback = ThreadsForTheRun(threads)
        callbacks = [callbacks] if isinstance(callbacks, pl.Callback) else list(callbacks or [])
        super().__init__(callbacks=[*callbacks, self.threads_callback], **kwargs)

    @property
    def thread_choice(self) -> ThreadChoice | None:
        """The threads this Trainer's last fit or test computed with, and why (None before one)."""
        return self.threads_callback.choice


class ThreadsForTheRun(pl.Callback):
    """Sets torch's threads as fitting or testing starts; a checkpoint keeps the number."""

    def __init__(self, setting: ThreadsSetting) -> None:
        self.setting = setting
        self.choice: ThreadChoice | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.choice is None:  # testing after fitting keeps the fit's threads
            self.choice = self.choose(trainer, pl_module)
        torch.set_num_threads(self.choice.threads)

    def choose(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> ThreadChoice:
        on_cpu = trainer.strategy.root_device.type == "cpu"
        local_processes = getattr(trainer.strategy, "num_processes", 1)
        cores = machine_threads.usable_cores()
        share = machine_threads.job_share
        if local_processes > 1:  # DDP's ranks on this machine split its cores (as Lightning does)
            share = max(1, cores // local_processes)
        datamodule = trainer.datamodule  # type: ignore[attr-defined]  # set by Lightning's data connector, undeclared
        return choose_threads(
            self.setting,
            cores=cores,
            busy_elsewhere=None if share or self.setting != "auto" else machine_threads.busy_since_start(),
            forward_flops=forward_flops(pl_module, datamodule) if on_cpu and self.setting == "auto" else None,
            share=share,
        )

    def state_dict(self) -> dict:
        return {"threads": self.choice.threads} if self.choice else {}

    def load_state_dict(self, state_dict: dict) -> None:
        """A resumed run computes with the threads of the run it continues, so that it continues
        exactly (another count adds some sums in another order); a setting of the user's still wins."""
        threads = state_dict.get("threads")
        if self.setting != "auto" or NUM_THREADS in os.environ or not isinstance(threads, int):
            return
        threads = min(max(1, threads), machine_threads.usable_cores())  # a checkpoint is untrusted input
        self.choice = ThreadChoice(threads, "auto: as in the run it resumes")
        torch.set_num_threads(threads)


def forward_flops(module: pl.LightningModule, datamodule: Any) -> float | None:
    """FLOPs of the model's forward pass on the first training batch, counted by torch's
    FlopCounterMode; None for a module or data that dlrun's tasks would not offer."""
    from dlrun.data.loader import TensorBatches

    forward_batch = getattr(module, "forward_batch", None)
    split = getattr(datamodule, "split", None)
    batch_size = getattr(datamodule, "batch_size", None)
    if forward_batch is None or split is None or not batch_size:
        return None
    batch = next(iter(TensorBatches(split("train"), batch_size)))
    was_training = module.training
    module.eval()  # no dropout drawn, no batch-norm statistics updated
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]), FlopCounterMode(display=False) as counter:
            forward_batch(batch)
    finally:
        module.train(was_training)
    return float(counter.get_total_flops())
