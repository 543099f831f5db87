"""Optimizer steps within an epoch, for the progress display: how many an epoch has, how many are
done, and the rate they are taken at.

dlrun's training loader serves a group of `data.steps_per_execution` mini-batches per Lightning
batch (often a whole small epoch in one), so Lightning's count of batches says nothing of progress.
The steps are counted where they happen instead: in the torch optimizer's step hook, which fires on
the direct step path and through Lightning's wrappers alike (tasks/stepping.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

import pytorch_lightning as pl
from torch.optim import Optimizer
from torch.utils.hooks import RemovableHandle

from dlrun.data.loader import TensorBatches
from dlrun.tasks.stepping import StepSettings


def optimizer_steps(trainer: pl.Trainer, lightning_batches: float) -> float:
    """Optimizer steps taken in the first `lightning_batches` training batches of an epoch; inf when
    the loader has no length."""
    in_epoch = trainer.num_training_batches
    if not math.isfinite(lightning_batches) or not math.isfinite(in_epoch):
        return math.inf
    batches = int(min(lightning_batches, in_epoch))
    loader = trainer.train_dataloader
    mini_batches = loader.batches_in(batches) if isinstance(loader, TensorBatches) else batches
    accumulate = _accumulation(trainer)
    # Gradients still accumulating at the epoch's end are stepped then (Stepper.finish_epoch).
    return math.ceil(mini_batches / accumulate) if batches == in_epoch else mini_batches // accumulate


def optimizer_steps_in_epoch(trainer: pl.Trainer) -> float:
    return optimizer_steps(trainer, trainer.num_training_batches)


def _accumulation(trainer: pl.Trainer) -> int:
    # dlrun's tasks accumulate themselves (manual optimization); other modules leave it to Lightning.
    steps = getattr(trainer.lightning_module, "steps", None)
    if isinstance(steps, StepSettings):
        return steps.accumulate_grad_batches
    return int(trainer.accumulate_grad_batches)


class StepClock:
    """Counts the current epoch's optimizer steps as they are taken, and times them.

    The rate is over the last finished epoch and this one so far: a short epoch (a few hundredths of
    a second) still shows one from its first step, and a long run follows changes of speed.
    Validation and the time between epochs are left out, so the ETA is the epoch's training time.
    """

    def __init__(
        self,
        on_step: Callable[[], None] | None = None,
        show_every_s: float = 0.1,
        now: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.on_step = on_step  # called after a step, at most every `show_every_s` seconds
        self.show_every_s = show_every_s
        self._now = now
        self.total: float = math.inf
        self.done = 0
        self._done_at_start = 0
        self._epoch_start = self._last_step = self._next_show = 0.0
        self._previous: tuple[int, float] = (0, 0.0)  # steps and seconds of the last finished epoch
        self._hooks: list[RemovableHandle] = []

    def attach(self, optimizers: Iterable[Optimizer]) -> None:
        self.detach()
        self._hooks = [optimizer.register_step_post_hook(self._stepped) for optimizer in optimizers]

    def detach(self) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []

    def start_epoch(self, total: float, done: float = 0) -> None:
        """A new epoch of `total` steps, `done` of which were taken before (a run resumed inside it)."""
        trained = self.done - self._done_at_start
        if trained > 0:
            self._previous = (trained, self._last_step - self._epoch_start)
        self.total = total
        self.done = self._done_at_start = int(done) if math.isfinite(done) else 0
        self._epoch_start = self._last_step = self._now()
        self._next_show = self._epoch_start

    def _stepped(self, *_: object) -> None:
        # Runs after every optimizer step: kept to a counter and a clock read.
        self.done += 1
        now = self._last_step = self._now()
        if self.on_step is not None and now >= self._next_show:
            self._next_show = now + self.show_every_s
            self.on_step()

    @property
    def finished(self) -> bool:
        return self.done >= self.total

    def steps_per_s(self) -> float | None:
        steps = self._previous[0] + self.done - self._done_at_start
        seconds = self._previous[1] + self._last_step - self._epoch_start
        return steps / seconds if steps > 0 and seconds > 0 else None

    def elapsed_s(self) -> float:
        """Of this epoch: to its last step once all are taken."""
        return (self._last_step if self.finished else self._now()) - self._epoch_start

    def remaining_s(self) -> float | None:
        rate = self.steps_per_s()
        if rate is None or not math.isfinite(self.total):
            return None
        return max(self.total - self.done, 0) / rate
