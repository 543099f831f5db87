"""How much of the loss's gradient reaches each step of a recurrent network: the BPTT picture.

On one batch the loss is back-propagated once to the hidden state after every step (see
models/hidden_states.py); the norm of that gradient per example, averaged over the examples still
running at that step, is the step's figure. A simple RNN's falls by orders of magnitude from the last
step back to the first (the vanishing gradient); an LSTM's falls much less.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import pytorch_lightning as pl
import torch

from dlrun.data.loader import Batch
from dlrun.models.hidden_states import stepwise_states
from dlrun.models.recurrent import RecurrentNet

if TYPE_CHECKING:
    from dlrun.tasks.base import SupervisedTask


def measurable(pl_module: pl.LightningModule) -> bool:
    """A task around a one-directional RecurrentNet, with the task's loss."""
    model = getattr(pl_module, "model", None)
    return isinstance(model, RecurrentNet) and model.num_directions == 1 and hasattr(pl_module, "forward_batch")


def bptt_gradient_norms(pl_module: pl.LightningModule, batch: Batch) -> list[float]:
    """Mean over examples of ||d loss / d h_t|| for each step t of `batch` (h_t: every layer's state
    after step t), in eval mode (no dropout); the module's own gradients are left untouched."""
    task = cast("SupervisedTask", pl_module)  # measurable(pl_module): a task around a RecurrentNet
    training = pl_module.training
    pl_module.eval()
    try:
        # cuDNN's RNN has no backward in eval mode; the per-step calls are small anyway.
        with (
            torch.enable_grad(),
            torch.backends.cudnn.flags(enabled=False),
            stepwise_states(cast(RecurrentNet, task.model)) as states,
        ):
            outputs = task.forward_batch(batch)
            loss = (
                task.batch_loss(outputs, batch)
                if hasattr(task, "batch_loss")
                else task.loss(outputs, task.targets_of(batch))
            )
        gradients = torch.autograd.grad(loss, states, allow_unused=True)
    finally:
        pl_module.train(training)
    lengths = batch.get("lengths")
    norms = []
    for t, (gradient, state) in enumerate(zip(gradients, states)):
        gradient = torch.zeros_like(state) if gradient is None else gradient
        per_example = gradient.transpose(0, 1).flatten(1).norm(dim=1)
        if lengths is not None:
            per_example = per_example[(t < lengths).to(per_example.device)]
        norms.append(per_example.mean() if len(per_example) else per_example.new_zeros(()))
    return torch.stack(norms).tolist() if norms else []


def draw_bptt(norms: list[float]):
    """The norms against the step (from 1), on a log y axis."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed, and none exists in CI
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(range(1, len(norms) + 1), norms, marker="." if len(norms) <= 60 else None)
    axes.set_yscale("log")
    axes.set_xlabel("step")
    axes.set_ylabel("||d loss / d hidden state||")
    axes.set_title("gradient reaching each step (BPTT)")
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    return figure


def first_over_last(norms: list[float]) -> float | None:
    """The gradient at the first step relative to the last: near 1 carries, far below 1 vanishes."""
    if not norms or norms[-1] == 0:
        return None
    return norms[0] / norms[-1]
