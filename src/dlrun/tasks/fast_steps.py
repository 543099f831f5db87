"""Plain torch optimizer steps where Lightning's per-step wrappers would do nothing else.

Under manual optimization every backward and optimizer step passes through the strategy, the
precision plugin and five hook dispatches. For a small model on a CPU that is a fifth of the step.
When the precision needs no loss scaling, there is one device, and no callback or module overrides
the per-step hooks, those layers only call `loss.backward()` and `optimizer.step()`, so calling them
directly gives the same result at the cost of the model alone.
"""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.plugins.precision import MixedPrecision, Precision
from pytorch_lightning.strategies import SingleDeviceStrategy
from pytorch_lightning.utilities.model_helpers import is_overridden
from torch import nn

PER_STEP_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step", "on_before_zero_grad")


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
        if any(is_overridden(hook, callback, pl.Callback) for callback in trainer.callbacks):
            return False
    return True


def clip_gradients(parameters: list[nn.Parameter], value: float | None, algorithm: str) -> None:
    if value is None:
        return
    if algorithm == "norm":
        nn.utils.clip_grad_norm_(parameters, value)
    else:
        nn.utils.clip_grad_value_(parameters, value)
