"""Learning-rate schedules: each factory's rates against its formula, and real runs through the configs."""

from __future__ import annotations

import math

import pytest
import pytorch_lightning as pl
import torch
from conftest import build_from_overrides
from torch.optim.lr_scheduler import ReduceLROnPlateau

from dlrun.training import schedules

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore:.*treespec.*")

BASE = 0.1


def sgd(lr: float = BASE) -> torch.optim.SGD:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=lr, momentum=0.9)


def rates(factory, steps_per_epoch: int, epochs: int, metrics=None, lr: float = BASE, **settings) -> list[float]:
    """The rate each optimizer step uses, the schedulers stepped as the task's Stepper steps them."""
    optimizer = sgd(lr)
    configs = factory(optimizer, steps_per_epoch=steps_per_epoch, max_epochs=epochs, **settings)
    used = []
    for epoch in range(epochs):
        for _ in range(steps_per_epoch):
            used.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            for config in configs:
                if config["interval"] == "step":
                    config["scheduler"].step()
        for config in configs:
            if config["interval"] == "epoch":
                scheduler = config["scheduler"]
                scheduler.step(metrics[epoch]) if isinstance(scheduler, ReduceLROnPlateau) else scheduler.step()
    return used


def per_epoch(used: list[float], steps_per_epoch: int) -> list[float]:
    return used[::steps_per_epoch]


def onecycle_rate(t: int, total: int, max_lr: float, rise: float, div: float = 25.0, final_div: float = 1e4) -> float:
    """Smith's policy as torch counts it: cosine from max_lr/div up to max_lr by step rise-1, then down
    to max_lr/(div*final_div) by the last step."""

    def cos_between(start, end, fraction):
        return end + (start - end) / 2 * (1 + math.cos(math.pi * fraction))

    initial, peak_step, last = max_lr / div, rise - 1, total - 1
    if t <= peak_step:
        return cos_between(initial, max_lr, t / peak_step)
    return cos_between(max_lr, initial / final_div, (t - peak_step) / (last - peak_step))


# -- each schedule against its formula ----------------------------------------------------------


def test_none_without_warmup_builds_no_scheduler():
    assert schedules.constant(sgd(), steps_per_epoch=3, max_epochs=2) == []
    assert schedules.constant(sgd(), steps_per_epoch=3, max_epochs=2, warmup_steps=1) == []


def test_step_decays_every_step_size_epochs():
    used = rates(schedules.step, 3, 7, step_size=2, gamma=0.5)
    assert used == pytest.approx([BASE * 0.5 ** (epoch // 2) for epoch in range(7) for _ in range(3)])


def test_exponential_decays_every_epoch():
    used = rates(schedules.exponential, 2, 6, gamma=0.8)
    assert used == pytest.approx([BASE * 0.8**epoch for epoch in range(6) for _ in range(2)])


def test_cosine_anneals_to_eta_min_over_max_epochs():
    epochs, eta_min = 6, 0.01
    optimizer = sgd()
    (config,) = schedules.cosine(optimizer, steps_per_epoch=2, max_epochs=epochs, eta_min=eta_min)
    used = per_epoch(rates(schedules.cosine, 2, epochs, eta_min=eta_min), 2)
    expected = [eta_min + (BASE - eta_min) * (1 + math.cos(math.pi * e / epochs)) / 2 for e in range(epochs)]
    assert used == pytest.approx(expected)
    for _ in range(epochs):
        config["scheduler"].step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(eta_min)


def test_plateau_reduces_after_patience_epochs_without_improvement():
    flat = [1.0] * 8  # the first epoch sets the best; each later one is a stall
    used = per_epoch(rates(schedules.plateau, 2, 8, flat, patience=2, factor=0.5), 2)
    # a stall count above patience (after epochs 4 and 7) multiplies the rate by factor
    assert used == pytest.approx([BASE] * 4 + [BASE / 2] * 3 + [BASE / 4])
    improving = [1.0 / (e + 1) for e in range(8)]
    assert rates(schedules.plateau, 2, 8, improving, patience=2, factor=0.5) == pytest.approx([BASE] * 16)


def test_plateau_mode_max_treats_a_rising_metric_as_improvement():
    rising = [float(e) for e in range(6)]
    assert rates(schedules.plateau, 1, 6, rising, mode="max", patience=1) == pytest.approx([BASE] * 6)
    assert rates(schedules.plateau, 1, 6, rising, mode="min", patience=1)[-1] < BASE


def test_onecycle_rises_to_max_lr_then_anneals():
    spe, epochs, max_lr = 4, 5, 1.0
    used = rates(schedules.onecycle, spe, epochs, max_lr=max_lr)
    total = spe * epochs
    assert used == pytest.approx([onecycle_rate(t, total, max_lr, rise=0.3 * total) for t in range(total)])
    assert used[0] == pytest.approx(max_lr / 25) and max(used) == pytest.approx(max_lr)
    assert used[-1] == pytest.approx(max_lr / 25 / 1e4)


def test_onecycle_peaks_at_the_optimizers_lr_when_max_lr_is_null():
    used = rates(schedules.onecycle, 5, 2, lr=0.3)
    assert max(used) == pytest.approx(0.3) and used[0] == pytest.approx(0.3 / 25)


def test_onecycle_warmup_steps_set_its_rising_phase():
    used = rates(schedules.onecycle, 4, 5, max_lr=1.0, warmup_steps=8)
    assert used.index(max(used)) == 7 and max(used) == pytest.approx(1.0)
    assert used == pytest.approx([onecycle_rate(t, 20, 1.0, rise=8) for t in range(20)])


def test_warmup_rises_linearly_to_the_base_rate():
    used = rates(schedules.constant, 3, 3, warmup_steps=4)
    assert used == pytest.approx([BASE * k / 4 for k in (1, 2, 3)] + [BASE] * 6)


@pytest.mark.parametrize(
    "factory, settings, schedule",
    [
        (schedules.step, {"step_size": 1, "gamma": 0.5}, lambda epoch: 0.5**epoch),
        (schedules.exponential, {"gamma": 0.9}, lambda epoch: 0.9**epoch),
        (schedules.cosine, {}, lambda epoch: (1 + math.cos(math.pi * epoch / 4)) / 2),
        (schedules.plateau, {"patience": 0, "factor": 0.5}, lambda epoch: 0.5 ** max(epoch - 1, 0)),
    ],
)
def test_warmup_multiplies_any_epoch_schedule(factory, settings, schedule):
    """Warm-up over 5 steps spans the first epoch boundary (3 steps an epoch): both factors apply."""
    used = rates(factory, 3, 4, [1.0] * 4, warmup_steps=5, **settings)
    expected = [BASE * schedule(t // 3) * min(1.0, (t + 1) / 5) for t in range(12)]
    assert used == pytest.approx(expected)


@pytest.mark.parametrize(
    "factory, settings, key",
    [
        (schedules.constant, {"warmup_steps": -1}, "warmup_steps"),
        (schedules.step, {"warmup_steps": 2.5}, "warmup_steps"),
        (schedules.step, {"step_size": 0}, "step_size"),
        (schedules.step, {"gamma": 0.0}, "gamma"),
        (schedules.exponential, {"gamma": -0.9}, "gamma"),
        (schedules.plateau, {"factor": 1.5}, "factor"),
        (schedules.plateau, {"mode": "lowest"}, "mode"),
        (schedules.plateau, {"patience": -1}, "patience"),
        (schedules.onecycle, {"warmup_steps": 6}, "warmup_steps"),
    ],
)
def test_bad_settings_raise_value_error_naming_the_key(factory, settings, key):
    with pytest.raises(ValueError, match=f"scheduler.{key} must be"):
        factory(sgd(), steps_per_epoch=2, max_epochs=3, **settings)


@pytest.mark.parametrize("factory", [schedules.cosine, schedules.onecycle])
def test_schedules_over_the_run_need_a_finite_max_epochs(factory):
    with pytest.raises(ValueError, match="trainer.max_epochs"):
        factory(sgd(), steps_per_epoch=2, max_epochs=-1)


# -- real runs through the configs --------------------------------------------------------------


class LearningRates(pl.Callback):
    """The rate at the start of every Lightning batch (one optimizer step under debug=fast) and epoch."""

    def __init__(self) -> None:
        self.steps: list[float] = []
        self.epochs: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.epochs.append(trainer.optimizers[0].param_groups[0]["lr"])

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.steps.append(trainer.optimizers[0].param_groups[0]["lr"])


def fit(tmp_path, epochs: int, *overrides: str):
    """Iris: 105 training rows, so 2 optimizer steps an epoch at the default batch size of 64."""
    run = build_from_overrides(
        tmp_path,
        "data=iris",
        "callbacks=none",
        f"trainer.max_epochs={epochs}",
        "trainer.limit_train_batches=1.0",
        "data.steps_per_execution=1",
        *overrides,
    )
    recorder = LearningRates()
    run.trainer.callbacks.append(recorder)
    run.trainer.fit(run.task, datamodule=run.datamodule)
    assert run.datamodule.train_batches_per_epoch == 2 and run.trainer.global_step == 2 * epochs
    return run, recorder


def final_lr(run) -> float:
    return run.trainer.optimizers[0].param_groups[0]["lr"]


def test_scheduler_none_runs_without_a_scheduler(tmp_path):
    run, recorder = fit(tmp_path, 2, "optimizer=sgd")
    assert run.trainer.lr_scheduler_configs == []
    assert recorder.steps == [0.01] * 4


def test_run_with_step_schedule_and_warmup(tmp_path):
    run, recorder = fit(
        tmp_path,
        5,
        "optimizer=sgd",
        "scheduler=step",
        "scheduler.step_size=2",
        "scheduler.gamma=0.5",
        "scheduler.warmup_steps=3",
    )
    expected = [0.01 * 0.5 ** (t // 4) * min(1.0, (t + 1) / 3) for t in range(10)]
    assert recorder.steps == pytest.approx(expected)
    assert final_lr(run) == pytest.approx(0.01 * 0.5 ** (5 // 2))


def test_run_with_warmup_and_no_schedule(tmp_path):
    run, recorder = fit(tmp_path, 2, "optimizer=sgd", "scheduler=none", "scheduler.warmup_steps=4")
    assert recorder.steps == pytest.approx([0.0025, 0.005, 0.0075, 0.01])
    assert final_lr(run) == pytest.approx(0.01)


def test_run_with_onecycle_peaks_at_max_lr(tmp_path):
    _, recorder = fit(tmp_path, 5, "scheduler=onecycle", "scheduler.max_lr=0.05")
    assert recorder.steps == pytest.approx([onecycle_rate(t, 10, 0.05, rise=3) for t in range(10)])
    assert max(recorder.steps) == pytest.approx(0.05)


def test_run_with_cosine_ends_at_eta_min(tmp_path):
    run, recorder = fit(tmp_path, 4, "optimizer=sgd", "scheduler=cosine", "scheduler.eta_min=0.001")
    assert recorder.epochs == pytest.approx([0.001 + 0.009 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)])
    assert final_lr(run) == pytest.approx(0.001)


def test_run_with_plateau_reduces_on_the_monitored_metric(tmp_path):
    # A rate this small leaves val/loss flat, so every epoch after the first is a stall.
    run, recorder = fit(
        tmp_path,
        5,
        "optimizer=sgd",
        "optimizer.lr=1e-6",
        "scheduler=plateau",
        "scheduler.patience=1",
        "scheduler.factor=0.5",
    )
    assert recorder.epochs == pytest.approx([1e-6] * 3 + [5e-7] * 2)
    assert final_lr(run) == pytest.approx(2.5e-7)


def test_plateau_follows_monitor_mode(tmp_path):
    run = build_from_overrides(tmp_path, "data=iris", "scheduler=plateau", "monitor_mode=max", "monitor=val/acc")
    assert run.task.scheduler_factory.keywords["mode"] == "max"


@pytest.mark.slow
def test_bad_schedule_setting_is_a_clean_user_error(dlrun):
    done = dlrun("train", "data=iris", "debug=fast", "logger=none", "scheduler=step", "scheduler.gamma=-0.5")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "scheduler.gamma must be a positive number" in done.stderr
