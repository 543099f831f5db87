"""Progress display: Rich's live bar on a terminal, plain periodic lines when output is a log."""

from __future__ import annotations

import sys
import time

import pytorch_lightning as pl
from pytorch_lightning.callbacks import RichProgressBar
from pytorch_lightning.callbacks.progress import ProgressBar

from dlrun import run_log


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
        done = epoch + 1
        shown = {k: float(v) for k, v in trainer.progress_bar_metrics.items() if not k.endswith("_step")}
        metrics = "  ".join(f"{name} {value:.4f}" for name, value in sorted(shown.items()))
        eta = ""
        if trainer.max_epochs and trainer.max_epochs > done and not trainer.should_stop:
            per_epoch = elapsed / (done - self._first_epoch)
            eta = f", at most {_duration(per_epoch * (trainer.max_epochs - done))} left"
        total = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        return f"epoch {done}{total}  {metrics}  ({_duration(elapsed)} elapsed{eta})"


class LiveProgress(RichProgressBar):
    """Rich's bar, drawn on the terminal alone; the run's log gets the epoch lines instead."""

    def __init__(self, refresh_rate: int = 1) -> None:
        # Past the job's tee: a live display redraws itself several times a second.
        super().__init__(refresh_rate=refresh_rate, leave=True, console_kwargs={"file": run_log.terminal(sys.stdout)})
        self._lines = EpochLines()

    def _init_progress(self, trainer: pl.Trainer) -> None:
        super()._init_progress(trainer)
        run_log.keep_copying()  # what is printed above the bar (warnings) still reaches the log

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._lines.start(trainer)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._log_finished_epoch(trainer)
        super().on_train_epoch_start(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._log_finished_epoch(trainer)
        super().on_train_end(trainer, pl_module)

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
            self._emit(
                f"epoch {trainer.current_epoch + 1} batch {batch_idx + 1}/{self.total_train_batches}"
                f"{loss_text}  {_duration(now - self._lines.fit_start)} elapsed"
            )

    def _print_finished_epoch(self, trainer: pl.Trainer) -> None:
        line = self._lines.finished_epoch(trainer) if self._enabled else None
        if line is not None:
            self._last_line = time.perf_counter()
            self._emit(line)

    def _emit(self, line: str) -> None:
        print(line, flush=True)


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"
