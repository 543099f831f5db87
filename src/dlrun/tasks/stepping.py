"""Optimizer steps under manual optimization: several per Lightning batch, with accumulation,
gradient clipping and learning-rate schedules, which Lightning handles only under automatic
optimization.

Each step normally goes through Lightning's wrappers (manual_backward, clip_gradients,
LightningOptimizer.step), so mixed precision and distributed strategies keep working. Those pass
through the strategy, the precision plugin and five hook dispatches, a fifth of a small model's step
on a CPU. When the precision needs no loss scaling, there is one device and no callback or module
overrides a per-step hook, they amount to `loss.backward()` and `optimizer.step()`, which are then
called directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytorch_lightning as pl
from pytorch_lightning.core.optimizer import LightningOptimizer
from pytorch_lightning.plugins.precision import MixedPrecision, Precision
from pytorch_lightning.strategies import SingleDeviceStrategy
from pytorch_lightning.utilities.model_helpers import is_overridden
from torch import Tensor, nn
from torch.optim.lr_scheduler import ReduceLROnPlateau

from dlrun.checks import check_number
from dlrun.choices import check_choice

ClipAlgorithm = Literal["norm", "value"]
PER_STEP_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step", "on_before_zero_grad")


@dataclass(frozen=True)
class StepSettings:
    """How the optimizer steps are taken, configured where Lightning users set them
    (trainer.gradient_clip_val, trainer.gradient_clip_algorithm, trainer.accumulate_grad_batches,
    trainer.log_every_n_steps). Under manual optimization the Trainer refuses the first three and
    would count the log interval in batches, so the task acts on them instead, per optimizer step."""

    gradient_clip_val: float | None = None  # null or 0: no clipping
    gradient_clip_algorithm: ClipAlgorithm = "norm"
    accumulate_grad_batches: int = 1
    log_every_n_steps: int = 10  # steps between two train/loss_step values

    def __post_init__(self) -> None:
        check_choice("gradient_clip_algorithm", self.gradient_clip_algorithm, ClipAlgorithm)
        for name in ("accumulate_grad_batches", "log_every_n_steps"):
            check_number(name, getattr(self, name), at_least=1, whole=True, error=ValueError)
        check_number("gradient_clip_val", self.gradient_clip_val, at_least=0, null_means="for none", error=ValueError)


class Stepper:
    """Takes the optimizer steps of one LightningModule for one fit."""

    def __init__(self, module: pl.LightningModule, settings: StepSettings) -> None:
        self.module = module
        self.trainer = module.trainer
        optimizer = module.optimizers()
        assert isinstance(optimizer, LightningOptimizer)  # dlrun's tasks configure one optimizer
        self.optimizer = optimizer
        # Read once: the step path below runs for every optimizer step.
        self.clip_val = settings.gradient_clip_val or None
        self.clip_algorithm = settings.gradient_clip_algorithm
        self.accumulate = settings.accumulate_grad_batches
        self.direct = direct_steps_are_equivalent(self.trainer, module)
        self.schedulers = list(self.trainer.lr_scheduler_configs)
        self.parameters = [p for group in self.optimizer.param_groups for p in group["params"]]
        self.pending = 0  # backward passes since the last step

    def backward_and_step(self, loss: Tensor) -> None:
        loss = loss / self.accumulate if self.accumulate > 1 else loss
        if self.direct:
            loss.backward()
        else:
            self.module.manual_backward(loss)
        self.pending += 1
        if self.pending == self.accumulate:
            self.step()

    def step(self) -> None:
        self.pending = 0
        optimizer = self.optimizer
        if self.direct:
            # LightningOptimizer.step without its no-op layers: it still counts the step (global_step).
            optimizer._on_before_step()
            clip_gradients(self.parameters, self.clip_val, self.clip_algorithm)
            optimizer.optimizer.step()
            optimizer._on_after_step()
            optimizer.optimizer.zero_grad(set_to_none=True)
        else:
            if self.clip_val is not None:
                self.module.clip_gradients(optimizer, self.clip_val, self.clip_algorithm)  # type: ignore[arg-type]  # Lightning passes its wrapper on too
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if self.schedulers:
            self.step_schedulers("step")

    def finish_epoch(self) -> None:
        """Step on gradients still accumulated at the epoch's last batch, before validation clears them."""
        if self.pending:
            self.step()

    def step_schedulers(self, interval: str) -> None:
        for config in self.schedulers:
            if config.interval != interval:
                continue
            if isinstance(config.scheduler, ReduceLROnPlateau):
                monitors = getattr(self.module, "scheduler_monitors", {})
                value = self.trainer.callback_metrics.get(str(monitors.get(id(config.scheduler), config.monitor)))
                if value is not None:
                    config.scheduler.step(value)
            else:
                config.scheduler.step()


def direct_steps_are_equivalent(trainer: pl.Trainer, module: pl.LightningModule) -> bool:
    plugin = trainer.precision_plugin
    plain_precision = type(plugin) is Precision or (
        type(plugin) is MixedPrecision and getattr(plugin, "scaler", None) is None
    )
    if not plain_precision or type(trainer.strategy) is not SingleDeviceStrategy:
        return False
    if is_overridden("backward", module, pl.LightningModule):
        return False
    for hook in PER_STEP_HOOKS:
        if is_overridden(hook, module, pl.LightningModule):
            return False
        if any(is_overridden(hook, callback, pl.Callback) for callback in trainer.callbacks):  # type: ignore[attr-defined]  # set by Lightning's connector
            return False
    return True


def clip_gradients(parameters: list[nn.Parameter], value: float | None, algorithm: str) -> None:
    if value is None:
        return
    if algorithm == "norm":
        nn.utils.clip_grad_norm_(parameters, value)
    else:
        nn.utils.clip_grad_value_(parameters, value)
