"""Learning-rate schedules that a config picks by name, each with an optional linear warm-up.

A schedule config is a `_partial_` of one of these factories. The task calls it as
`factory(optimizer, steps_per_epoch=..., max_epochs=...)` and gets back a list of Lightning
scheduler dicts ({"scheduler": ..., "interval": "step" | "epoch"}), empty for none.

Epoch-based schedules (step, exponential, cosine, plateau) are stepped once per epoch, so their
settings count epochs whatever the batch size. Warm-up counts optimizer steps, so it is a second
scheduler stepped per step: a LinearLR, which like those four only multiplies the current learning
rate, so the two compose into schedule(epoch) * warm-up(step) whichever steps first. OneCycleLR sets
the rate outright and would erase such a factor, but it has a warm-up of its own: its rising phase,
which `warmup_steps` sizes instead.
"""

from __future__ import annotations

from typing import Literal, cast

from torch.optim import Optimizer
from torch.optim.lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    LinearLR,
    LRScheduler,
    OneCycleLR,
    ReduceLROnPlateau,
    StepLR,
)

from dlrun.checks import check_number

SchedulerConfig = dict[str, object]


def constant(
    optimizer: Optimizer, *, steps_per_epoch: int, max_epochs: int | None, warmup_steps: int = 0
) -> list[SchedulerConfig]:
    """The optimizer's own learning rate throughout, after the warm-up if there is one."""
    return _with_warmup(optimizer, [], warmup_steps)


def step(
    optimizer: Optimizer,
    *,
    steps_per_epoch: int,
    max_epochs: int | None,
    step_size: int = 10,
    gamma: float = 0.1,
    warmup_steps: int = 0,
) -> list[SchedulerConfig]:
    """Multiply the learning rate by `gamma` every `step_size` epochs."""
    check_number("scheduler.step_size", step_size, at_least=1, whole=True, error=ValueError)
    check_number("scheduler.gamma", gamma, above=0, error=ValueError)
    return _with_warmup(optimizer, [_per_epoch(StepLR(optimizer, step_size=step_size, gamma=gamma))], warmup_steps)


def exponential(
    optimizer: Optimizer,
    *,
    steps_per_epoch: int,
    max_epochs: int | None,
    gamma: float = 0.95,
    warmup_steps: int = 0,
) -> list[SchedulerConfig]:
    """Multiply the learning rate by `gamma` after every epoch."""
    check_number("scheduler.gamma", gamma, above=0, error=ValueError)
    return _with_warmup(optimizer, [_per_epoch(ExponentialLR(optimizer, gamma=gamma))], warmup_steps)


def cosine(
    optimizer: Optimizer,
    *,
    steps_per_epoch: int,
    max_epochs: int | None,
    eta_min: float = 0.0,
    warmup_steps: int = 0,
) -> list[SchedulerConfig]:
    """Anneal from the optimizer's learning rate to `eta_min` along half a cosine over max_epochs."""
    _check_finite_epochs("cosine", max_epochs)
    assert max_epochs is not None  # checked just above
    scheduler = CosineAnnealingLR(optimizer, T_max=max_epochs, eta_min=eta_min)
    return _with_warmup(optimizer, [_per_epoch(scheduler)], warmup_steps)


def plateau(
    optimizer: Optimizer,
    *,
    steps_per_epoch: int,
    max_epochs: int | None,
    mode: str = "min",
    factor: float = 0.1,
    patience: int = 5,
    threshold: float = 1e-4,
    cooldown: int = 0,
    min_lr: float = 0.0,
    warmup_steps: int = 0,
) -> list[SchedulerConfig]:
    """Multiply the learning rate by `factor` when the monitored metric has not improved for
    `patience` epochs (the task steps it with the run's monitor)."""
    if mode not in ("min", "max"):
        raise ValueError(f"scheduler.mode must be min or max (as monitor_mode), got '{mode}'")
    check_number("scheduler.patience", patience, at_least=0, whole=True, error=ValueError)
    check_number(
        "scheduler.factor",
        factor,
        above=0,
        below=1,
        meaning="it multiplies the learning rate to reduce it",
        error=ValueError,
    )
    # The signature keeps `str`: the config's value checker reads it, and the check above words the error.
    scheduler = ReduceLROnPlateau(
        optimizer,
        mode=cast(Literal["min", "max"], mode),
        factor=factor,
        patience=patience,
        threshold=threshold,
        cooldown=cooldown,
        min_lr=min_lr,
    )
    return _with_warmup(optimizer, [_per_epoch(scheduler)], warmup_steps)


def onecycle(
    optimizer: Optimizer,
    *,
    steps_per_epoch: int,
    max_epochs: int | None,
    max_lr: float | None = None,
    pct_start: float = 0.3,
    anneal_strategy: str = "cos",
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
    cycle_momentum: bool = False,
    base_momentum: float = 0.85,
    max_momentum: float = 0.95,
    warmup_steps: int = 0,
) -> list[SchedulerConfig]:
    """Smith's one-cycle policy over the whole run: rise from max_lr/div_factor to max_lr, then fall
    to max_lr/(div_factor*final_div_factor), per optimizer step. `max_lr` null takes the optimizer's
    learning rate; `warmup_steps` > 0 sets the rising phase in steps in place of `pct_start`."""
    _check_finite_epochs("onecycle", max_epochs)
    assert max_epochs is not None  # checked just above
    check_number("scheduler.warmup_steps", warmup_steps, at_least=0, whole=True, error=ValueError)
    total_steps = steps_per_epoch * max_epochs
    if warmup_steps:
        if warmup_steps >= total_steps:
            raise ValueError(
                f"scheduler.warmup_steps must be fewer than the run's {total_steps} optimizer steps "
                f"({steps_per_epoch} per epoch x {max_epochs} epochs), got {warmup_steps}"
            )
        pct_start = warmup_steps / total_steps
    peak_lr: float | list[float] = [group["lr"] for group in optimizer.param_groups] if max_lr is None else max_lr
    scheduler = OneCycleLR(
        optimizer,
        max_lr=peak_lr,
        total_steps=total_steps,
        pct_start=pct_start,
        anneal_strategy=cast(Literal["cos", "linear"], anneal_strategy),  # OneCycleLR refuses any other
        div_factor=div_factor,
        final_div_factor=final_div_factor,
        three_phase=three_phase,
        cycle_momentum=cycle_momentum,
        base_momentum=base_momentum,
        max_momentum=max_momentum,
    )
    return [{"scheduler": scheduler, "interval": "step"}]


def _with_warmup(optimizer: Optimizer, schedules: list[SchedulerConfig], warmup_steps: int) -> list[SchedulerConfig]:
    """Add a linear warm-up: step k of the first `warmup_steps` uses k/warmup_steps of the rate.

    The schedule comes first, so that it keeps the learning-rate monitor's plain name (lr-Adam).
    """
    check_number("scheduler.warmup_steps", warmup_steps, at_least=0, whole=True, error=ValueError)
    if warmup_steps <= 1:  # one step of warm-up already runs at the full rate
        return schedules
    warmup = LinearLR(optimizer, start_factor=1 / warmup_steps, end_factor=1.0, total_iters=warmup_steps - 1)
    return [*schedules, {"scheduler": warmup, "interval": "step"}]


def _per_epoch(scheduler: LRScheduler | ReduceLROnPlateau) -> SchedulerConfig:
    return {"scheduler": scheduler, "interval": "epoch"}


def _check_finite_epochs(name: str, max_epochs: int | None) -> None:
    check_number(
        "trainer.max_epochs",
        max_epochs,
        at_least=1,
        whole=True,
        meaning=f"scheduler={name} spreads over it",
        error=ValueError,
    )
