"""The schedule of per-stage figures (dlrun.callbacks.stage_figure): every N epochs, within a time budget."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dlrun.callbacks import stage_figure
from dlrun.callbacks.stage_figure import StageFigure


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Drawing(StageFigure):
    """Draws in `cost_s` of the clock's time, and notes the epoch of each validation figure."""

    def __init__(self, clock: Clock, cost_s: float, **schedule) -> None:
        super().__init__(**schedule)
        self.clock, self.cost_s, self.epoch, self.drawn = clock, cost_s, 0, []

    def log_figure(self, trainer, pl_module, stage: str) -> None:
        self.drawn.append(self.epoch if stage == "val" else stage)
        self.clock.now += self.cost_s


def fit(callback: Drawing, epochs: int, epoch_s: float) -> list:
    trainer = SimpleNamespace(sanity_checking=False)
    callback.on_fit_start(trainer, None)
    for epoch in range(1, epochs + 1):
        callback.epoch = epoch
        callback.clock.now += epoch_s
        callback.on_validation_epoch_end(trainer, None)
    callback.on_test_epoch_end(trainer, None)
    return callback.drawn


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(stage_figure, "perf_counter", clock)
    return clock


def test_without_a_budget_a_figure_every_n_epochs_and_after_testing(clock):
    assert fit(Drawing(clock, 0.3, every_n_epochs=10), 30, epoch_s=0.05) == [10, 20, 30, "test"]
    assert fit(Drawing(clock, 0.3, every_n_epochs=0), 30, epoch_s=0.05) == ["test"]


def test_a_budget_keeps_the_figures_to_their_share_of_the_fit(clock):
    # Figures of 0.5 s within 1/16 of the fit: the first after 0.25 s * 16 = 4 s of fitting (64 epochs
    # of 1/16 s), each next one 0.5 s * 16 = 8 s (128 epochs) after the last.
    drawn = fit(Drawing(clock, 0.5, every_n_epochs=8, time_budget=1 / 16), 320, epoch_s=1 / 16)
    assert drawn == [64, 192, 320, "test"]
    # Long epochs are not held back: every 10th, as without a budget.
    assert fit(Drawing(clock, 0.3, every_n_epochs=10, time_budget=0.05), 30, epoch_s=1.0) == [10, 20, 30, "test"]


def test_a_budget_is_a_share(clock):
    with pytest.raises(ValueError, match="time_budget"):
        Drawing(clock, 0.3, every_n_epochs=10, time_budget=1.5)
