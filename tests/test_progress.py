"""The progress display: on a terminal, a bar per epoch that counts the epoch's optimizer steps, with
their rate and the time left, epochs numbered from 1; elsewhere plain lines and no ANSI codes."""

from __future__ import annotations

import functools
import io
import math
import re

import pytest
import pytorch_lightning as pl
import torch
from conftest import make_trainer

from dlrun.callbacks.progress import LiveProgress, PlainProgress
from dlrun.callbacks.step_clock import StepClock
from dlrun.data import SklearnDataModule
from dlrun.models import MLP
from dlrun.tasks import ClassificationTask
from dlrun.tasks.stepping import StepSettings

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore:.*treespec.*")

EPOCHS = 2
BATCH_SIZE = 8
TRAIN_ROWS = 104  # iris' 150 rows less 15% each for validation and test (stratified)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class BarAtEpochEnd(pl.Callback):
    """The training bar's (completed, total) as each epoch ends."""

    def __init__(self, bar: LiveProgress) -> None:
        self.bar = bar
        self.seen: list[tuple[float, float]] = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        task = self.bar.train_progress_bar
        self.seen.append((task.completed, task.total))


def fit_iris(root, progress: pl.Callback, accumulate: int = 1, *more: pl.Callback) -> None:
    """A real short fit: iris in batches of 8, every epoch's 13 steps in one Lightning batch."""
    pl.seed_everything(0, verbose=False)
    datamodule = SklearnDataModule(name="iris", batch_size=BATCH_SIZE, steps_per_execution=32)
    spec = datamodule.spec
    task = ClassificationTask(
        MLP(spec.input_shape, spec.num_outputs, hidden_sizes=(16,)),
        spec,
        functools.partial(torch.optim.Adam, lr=0.01),
        steps=StepSettings(accumulate_grad_batches=accumulate),
    )
    trainer = make_trainer(root, max_epochs=EPOCHS, enable_progress_bar=True, callbacks=[progress, *more])
    trainer.fit(task, datamodule=datamodule)
    assert trainer.num_training_batches == 1  # so Lightning's own bar would say 1/1


@pytest.mark.parametrize("accumulate", [1, 2])
def test_the_bar_counts_the_epochs_optimizer_steps_with_a_rate(tmp_path, accumulate):
    screen = io.StringIO()
    bar = LiveProgress(refresh_rate=10, console_kwargs={"file": screen, "force_terminal": True, "width": 160})
    seen = BarAtEpochEnd(bar)
    fit_iris(tmp_path, bar, accumulate, seen)

    steps = math.ceil(math.ceil(TRAIN_ROWS / BATCH_SIZE) / accumulate)  # the last group steps what it has
    assert seen.seen == [(steps, steps)] * EPOCHS
    assert bar.clock.steps_per_s() is not None and bar.clock.steps_per_s() > 0
    drawn = ANSI.sub("", screen.getvalue())
    for epoch in range(1, EPOCHS + 1):
        assert f"Epoch {epoch}/{EPOCHS}" in drawn, drawn
    assert "Epoch 0" not in drawn and "0.00it/s" not in drawn and "1/1 " not in drawn, drawn
    assert f"{steps}/{steps}" in drawn, drawn
    rates = [float(rate) for rate in re.findall(r"([0-9.]+) steps/s", drawn)]
    assert rates and all(rate > 0 for rate in rates), drawn
    assert "\x1b[" in screen.getvalue()  # a terminal: Rich drew it live
    assert not bar.clock._hooks  # the optimizer hook went with the fit


def test_plain_output_has_epoch_lines_numbered_from_one_and_no_ansi(tmp_path, capsys):
    fit_iris(tmp_path, PlainProgress(line_interval_s=0.0))  # a line after every Lightning batch too
    out = capsys.readouterr().out
    assert "\x1b[" not in out
    lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    steps = math.ceil(TRAIN_ROWS / BATCH_SIZE)
    for epoch in range(1, EPOCHS + 1):
        assert any(line.startswith(f"epoch {epoch} step {steps}/{steps}") for line in lines), lines
        assert any(line.startswith(f"epoch {epoch}/{EPOCHS} ") for line in lines), lines
    assert not any(line.startswith("epoch 0") for line in lines), lines


def test_the_clock_rates_steps_over_the_last_epoch_and_this_one():
    now = [0.0]
    shown: list[int] = []
    clock = StepClock(show_every_s=1.0, now=lambda: now[0])
    clock.on_step = lambda: shown.append(clock.done)
    clock.start_epoch(total=10)
    assert clock.steps_per_s() is None and clock.remaining_s() is None
    for _ in range(4):
        now[0] += 0.5
        clock._stepped()
    assert clock.done == 4 and clock.steps_per_s() == pytest.approx(2.0)
    assert clock.remaining_s() == pytest.approx(3.0) and clock.elapsed_s() == pytest.approx(2.0)
    assert shown == [1, 3]  # at most one display update a second
    now[0] += 5.0  # validation and the next epoch's start: not training time
    clock.start_epoch(total=10, done=2)  # resumed after 2 of its steps
    assert clock.done == 2 and clock.steps_per_s() == pytest.approx(2.0)  # the last epoch's pace
    now[0] += 0.25
    clock._stepped()
    assert clock.steps_per_s() == pytest.approx(5 / 2.25)
    assert not clock.finished and clock.remaining_s() == pytest.approx(7 / (5 / 2.25))
