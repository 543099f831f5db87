"""Progress display: Rich's live bar on a terminal, plain periodic lines when output is a log."""

from __future__ import annotations

import sys
import time

import pytorch_lightning as pl
from pytorch_lightning.callbacks import RichProgressBar
from pytorch_lightning.callbacks.progress import ProgressBar


def progress_bar(refresh_rate: int = 1, line_interval_s: float = 30.0) -> ProgressBar:
    """A live bar when stdout is a terminal; otherwise lines that stay readable in CI logs."""
    if sys.stdout.isatty():
        return RichProgressBar(refresh_rate=refresh_rate, leave=True)
    return PlainProgress(line_interval_s=line_interval_s)


class PlainProgress(ProgressBar):
    """One line per epoch with the epoch's metrics and an ETA, plus a line every `line_interval_s`
    seconds inside long epochs."""

    def __init__(self, line_interval_s: float = 30.0) -> None:
        super().__init__()
        self.line_interval_s = line_interval_s
        self._enabled = True
        self._fit_start = 0.0
        self._last_line = 0.0
        self._last_printed_epoch = -1

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._fit_start = self._last_line = time.perf_counter()

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
                f"{loss_text}  {_duration(now - self._fit_start)} elapsed"
            )

    def _print_finished_epoch(self, trainer: pl.Trainer) -> None:
        epoch = trainer.current_epoch - 1
        if not self._enabled or epoch < 0 or epoch <= self._last_printed_epoch:
            return
        self._last_printed_epoch = epoch
        self._last_line = now = time.perf_counter()
        elapsed = now - self._fit_start
        done = epoch + 1
        shown = {k: float(v) for k, v in trainer.progress_bar_metrics.items() if not k.endswith("_step")}
        metrics = "  ".join(f"{name} {value:.4f}" for name, value in sorted(shown.items()))
        eta = ""
        if trainer.max_epochs and trainer.max_epochs > done and not trainer.should_stop:
            eta = f", at most {_duration(elapsed / done * (trainer.max_epochs - done))} left"
        total = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        self._emit(f"epoch {done}{total}  {metrics}  ({_duration(elapsed)} elapsed{eta})")

    def _emit(self, line: str) -> None:
        print(line, flush=True)


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"
