"""Progress display: Rich's live bar on a terminal, plain periodic lines when output is a log.

Epochs are numbered from 1 (dlrun.epochs); the bar counts the epoch's optimizer steps (step_clock.py)
with their rate and the epoch's ETA, where Lightning's would count Lightning batches, one per epoch
of a small data set.
"""

from __future__ import annotations

import sys
import time

import pytorch_lightning as pl
from pytorch_lightning.callbacks import RichProgressBar
from pytorch_lightning.callbacks.progress import ProgressBar

from dlrun import run_log
from dlrun.callbacks.step_clock import StepClock, optimizer_steps, optimizer_steps_in_epoch
from dlrun.callbacks.step_columns import CLOCK_FIELD, StepRateColumn, StepTimeColumn
from dlrun.epochs import user_epoch
from dlrun.training.mid_epoch import batches_done_in_epoch


def progress_bar(refresh_rate: int = 1, line_interval_s: float = 30.0) -> ProgressBar:
    """A live bar when stdout is a terminal; otherwise lines that stay readable in CI logs."""
    if sys.stdout.isatty():
        return LiveProgress(refresh_rate=refresh_rate)
    return PlainProgress(line_interval_s=line_interval_s)


class EpochLines:
    """The line for each finished epoch: its metrics, the time so far and an ETA."""

    def __init__(self) -> None:
        self.fit_start = 0.0
        self._first_epoch = 0
        self._last_epoch = -1

    def start(self, trainer: pl.Trainer) -> None:
        self.fit_start = time.perf_counter()
        # A resumed run starts after the epochs its checkpoint holds: they are not this fit's to report.
        self._first_epoch = trainer.current_epoch
        self._last_epoch = trainer.current_epoch - 1

    def finished_epoch(self, trainer: pl.Trainer) -> str | None:
        """The line of the epoch before the current one, once; None when there is none to say."""
        epoch = trainer.current_epoch - 1
        if epoch < 0 or epoch <= self._last_epoch:
            return None
        self._last_epoch = epoch
        elapsed = time.perf_counter() - self.fit_start
        done = user_epoch(epoch)  # the epoch's number, and how many have been trained
        shown = {k: float(v) for k, v in trainer.progress_bar_metrics.items() if not k.endswith("_step")}
        metrics = "  ".join(f"{name} {value:.4f}" for name, value in sorted(shown.items()))
        eta = ""
        if trainer.max_epochs and trainer.max_epochs > done and not trainer.should_stop:
            per_epoch = elapsed / (done - self._first_epoch)
            eta = f", at most {_duration(per_epoch * (trainer.max_epochs - done))} left"
        total = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        return f"epoch {done}{total}  {metrics}  ({_duration(elapsed)} elapsed{eta})"


class LiveProgress(RichProgressBar):
    """Rich's bar, drawn on the terminal alone; the run's log gets the epoch lines instead.

    The training bar counts the epoch's optimizer steps, with their rate and the time left.
    """

    def __init__(self, refresh_rate: int = 1, console_kwargs: dict | None = None) -> None:
        # Past the job's tee: a live display redraws itself several times a second.
        console_kwargs = console_kwargs or {"file": run_log.terminal(sys.stdout)}
        super().__init__(refresh_rate=refresh_rate, leave=True, console_kwargs=console_kwargs)
        self._lines = EpochLines()
        # Moves the bar between Lightning batches (which may hold a whole epoch) at the display's rate.
        self.clock = StepClock(on_step=self._show_steps, show_every_s=1.0 / max(refresh_rate, 1))

    def _init_progress(self, trainer: pl.Trainer) -> None:
        super()._init_progress(trainer)
        run_log.keep_copying()  # what is printed above the bar (warnings) still reaches the log

    def configure_columns(self, trainer: pl.Trainer) -> list:
        description, bar, count, times, rate = super().configure_columns(trainer)
        return [description, bar, count, StepTimeColumn(times), StepRateColumn(rate)]

    @property
    def total_train_batches(self) -> int | float:
        """What the training bar counts to: the epoch's optimizer steps, not Lightning's batches."""
        return optimizer_steps_in_epoch(self.trainer)

    def _get_train_description(self, current_epoch: int) -> str:
        description = f"Epoch {user_epoch(current_epoch)}"
        if self.trainer.max_epochs is not None and self.trainer.max_epochs > 0:
            description += f"/{self.trainer.max_epochs}"
        # As wide as the validation bar's, so the bars line up.
        return f"{description:{len(self.validation_description)}}"

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._lines.start(trainer)
        if self.is_enabled:
            self.clock.attach(trainer.optimizers)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._log_finished_epoch(trainer)
        super().on_train_epoch_start(trainer, pl_module)
        self._start_epoch_bar(trainer, batches_done_in_epoch(trainer))

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx) -> None:
        # Lightning's would set the bar to the count of Lightning batches.
        if self.is_enabled and self.train_progress_bar_id is None:  # a run resumed inside an epoch
            self._initialize_train_progress_bar_id()
            self._start_epoch_bar(trainer, batch_idx + 1)
        self._show_steps()
        self._update_metrics(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._log_finished_epoch(trainer)
        self.clock.detach()
        super().on_train_end(trainer, pl_module)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.clock.detach()
        super().teardown(trainer, pl_module, stage)

    def _start_epoch_bar(self, trainer: pl.Trainer, lightning_batches_done: int) -> None:
        if self.is_disabled or self.progress is None or self.train_progress_bar_id is None:
            return
        self.clock.start_epoch(optimizer_steps_in_epoch(trainer), optimizer_steps(trainer, lightning_batches_done))
        self.progress.update(self.train_progress_bar_id, total=self.clock.total, completed=self.clock.done)
        self.train_progress_bar.fields[CLOCK_FIELD] = self.clock  # what the step columns read
        self.refresh()

    def _show_steps(self) -> None:
        if self.progress is not None and self.train_progress_bar_id is not None:
            self.progress.update(self.train_progress_bar_id, completed=self.clock.done)
            self.refresh()

    def _log_finished_epoch(self, trainer: pl.Trainer) -> None:
        line = self._lines.finished_epoch(trainer) if self.is_enabled else None
        if line is not None:
            run_log.log_only(line)


class PlainProgress(ProgressBar):
    """One line per epoch with the epoch's metrics and an ETA, plus a line every `line_interval_s`
    seconds inside long epochs."""

    def __init__(self, line_interval_s: float = 30.0) -> None:
        super().__init__()
        self.line_interval_s = line_interval_s
        self._enabled = True
        self._lines = EpochLines()
        self._last_line = 0.0

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._lines.start(trainer)
        self._last_line = self._lines.fit_start

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._print_finished_epoch(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._print_finished_epoch(trainer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        now = time.perf_counter()
        if self._enabled and now - self._last_line >= self.line_interval_s:
            self._last_line = now
            loss = trainer.progress_bar_metrics.get("train/loss_step")
            loss_text = f"  train/loss_step {float(loss):.4f}" if loss is not None else ""
            steps = f"{_count(optimizer_steps(trainer, batch_idx + 1))}/{_count(optimizer_steps_in_epoch(trainer))}"
            self._emit(
                f"epoch {user_epoch(trainer.current_epoch)} step {steps}"
                f"{loss_text}  {_duration(now - self._lines.fit_start)} elapsed"
            )

    def _print_finished_epoch(self, trainer: pl.Trainer) -> None:
        line = self._lines.finished_epoch(trainer) if self._enabled else None
        if line is not None:
            self._last_line = time.perf_counter()
            self._emit(line)

    def _emit(self, line: str) -> None:
        print(line, flush=True)


def _count(steps: float) -> str:
    return str(int(steps)) if steps != float("inf") else "?"


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"
