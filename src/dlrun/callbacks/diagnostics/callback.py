"""Why a network trains or not: per-layer gradients and updates, dead and saturated units, BPTT.

Logged to the run's loggers under `diagnostics/` (TensorBoard groups them by the part after it):
- every epoch, for each dense, convolutional, recurrent or embedding layer (named by its module path,
  e.g. `model.1`): `grad_norm/<layer>`, `weight_norm/<layer>` and `update_ratio/<layer>` (the norm of
  what one optimizer step changed over the weight norm before it; around 1e-3 is the usual healthy
  figure), each the mean over the epoch's sampled steps (every `every_n_steps`-th optimizer step, see
  layers.py);
- every epoch too, on a fixed batch (the first `num_examples` examples of the first validation batch,
  the same each epoch): `dead_fraction/<layer>` for ReLU layers and `saturated_fraction/<layer>` for
  sigmoid/tanh layers (see activations.py for the definitions);
- every `every_n_epochs` epochs (with the next figures, see `time_budget`) and at the end of training,
  TensorBoard and W&B only (MLflow has no histograms): histograms `weights/<layer>` and `gradients/<layer>` (the gradients of the latest
  sampled step), so that a run shorter than the interval has them too;
- for a one-directional RecurrentNet, at the end of training (and every `bptt_every_n_epochs`): the
  figure `bptt_gradient` (the gradient of the loss reaching each step's hidden state, on the fixed
  batch; see bptt.py) and the scalar `bptt_first_over_last`.
"Every epoch" unless epochs are so short that the figures would take more than `time_budget` of the
training time: then some epochs skip them, and the next figures average every step sampled since.
A layer whose gradients vanish or explode against the output layer's (or back through time), or that is
mostly dead or saturated, is logged as a warning the first epoch it is found (see findings.py
for the thresholds; layers off the path from the output back to the input, such as an attention
module's scoring layers, are not judged against the output layer: see side_path_layers);
`findings()` gives one line per problem for the run's summary, and `last_epoch_figures()` the last
epoch's numbers for results.json.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from time import perf_counter
from typing import cast

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.model_helpers import is_overridden

from dlrun.callbacks.diagnostics.activations import activation_fractions, activation_layers
from dlrun.callbacks.diagnostics.bptt import bptt_gradient_norms, draw_bptt, first_over_last, measurable
from dlrun.callbacks.diagnostics.findings import (
    FindingLog,
    Thresholds,
    bptt_findings,
    describe,
    gradient_findings,
    unit_findings,
)
from dlrun.callbacks.diagnostics.histograms import log_histogram
from dlrun.callbacks.diagnostics.layers import LayerSampler, side_path_layers, weighted_layers
from dlrun.data.loader import Batch
from dlrun.data.padding import LENGTH_KEYS, trim_to_longest
from dlrun.errors import ConfigError
from dlrun.models.recurrent import RecurrentNet
from dlrun.trackers.sinks import Sinks

# Named after the package, as it was when this module was dlrun.callbacks.diagnostics: the warnings
# keep the logger name that run logs show and that log filters select.
log = logging.getLogger(__package__)


def _check(key: str, value: object, valid: bool, expected: str) -> None:
    if not valid:
        raise ConfigError(f"callbacks.diagnostics.{key} must be {expected}, got {value!r}.")


def _whole(value: object, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _compact(value: float) -> float:
    """Four significant digits: results.json stays readable and small."""
    return float(f"{value:.4g}")


class Diagnostics(pl.Callback):
    """See the module's docstring for what it logs; the options (each checked, a ConfigError if wrong):

    every_n_steps: sample the per-layer norms every this many optimizer steps (counted over the run),
        and the first step after each figures, so that figures always hold a step since the last ones.
    every_n_epochs: weight and gradient histograms every this many epochs (drawn with the next
        figures) and at the end of training; 0 = never.
    num_examples: how many validation examples the fixed batch holds (fewer if the first validation
        batch is smaller).
    saturation_threshold: t in (0.5, 1): a sigmoid output below 1 - t or above t, a tanh output with
        |y| > t, is saturated.
    vanishing_ratio, exploding_ratio: a layer whose gradient norm is below / above this times the
        output layer's (where back-propagation starts) is reported.
    warn_fraction: a layer with more than this fraction of its units dead or saturated is reported.
    bptt_every_n_epochs: also draw the BPTT figure every this many epochs; 0 = at the end of training only.
    time_budget: the largest share of the training time the per-epoch figures (norms, dead and saturated
        units, their scalars, and the histograms when due) may take: after figures that took t seconds,
        epochs end without them until training epochs (from their start to their end, so not validation
        or what other callbacks do between epochs) have lasted t / time_budget seconds, and the norms
        of the steps sampled meanwhile are averaged into the next figures. Epochs that last 1 / time_budget times as long as the figures
        never skip them; the last epoch's figures are taken at the end of training if its epoch
        skipped them. None = every epoch.
    """

    def __init__(
        self,
        every_n_steps: int = 50,
        every_n_epochs: int = 20,
        num_examples: int = 256,
        saturation_threshold: float = 0.99,
        vanishing_ratio: float = 1e-3,
        exploding_ratio: float = 1e3,
        warn_fraction: float = 0.5,
        bptt_every_n_epochs: int = 0,
        time_budget: float | None = None,
    ) -> None:
        _check("every_n_steps", every_n_steps, _whole(every_n_steps, 1), "a whole number of optimizer steps >= 1")
        _check("every_n_epochs", every_n_epochs, _whole(every_n_epochs, 0), "a whole number of epochs >= 0 (0 = never)")
        _check("num_examples", num_examples, _whole(num_examples, 1), "a whole number of examples >= 1")
        _check(
            "saturation_threshold",
            saturation_threshold,
            _number(saturation_threshold) and 0.5 < saturation_threshold < 1,
            "a number in (0.5, 1), such as 0.99",
        )
        _check(
            "vanishing_ratio",
            vanishing_ratio,
            _number(vanishing_ratio) and 0 < vanishing_ratio < 1,
            "a number in (0, 1), such as 0.001",
        )
        _check(
            "exploding_ratio",
            exploding_ratio,
            _number(exploding_ratio) and exploding_ratio > 1,
            "a number > 1, such as 1000",
        )
        _check(
            "warn_fraction",
            warn_fraction,
            _number(warn_fraction) and 0 <= warn_fraction < 1,
            "a fraction in [0, 1), such as 0.5",
        )
        _check(
            "bptt_every_n_epochs",
            bptt_every_n_epochs,
            _whole(bptt_every_n_epochs, 0),
            "a whole number of epochs >= 0 (0 = at the end of training only)",
        )
        _check(
            "time_budget",
            time_budget,
            time_budget is None or (_number(time_budget) and 0 < time_budget <= 1),
            "a fraction in (0, 1], such as 0.02, or null for figures every epoch",
        )
        self.time_budget = time_budget
        self._epoch_started: float | None = None  # perf_counter at this training epoch's start
        self._trained_since_figures = 0.0  # seconds of training epochs since the latest figures
        self._figures_cost: float | None = None  # how long they took
        self._figures_epoch = 0
        self._histograms_pending = False  # an every_n_epochs epoch has passed; drawn with the next figures
        self._histograms_step: int | None = None  # the optimizer step of the latest histograms
        self.every_n_steps = every_n_steps
        self.every_n_epochs = every_n_epochs
        self.num_examples = num_examples
        self.saturation_threshold = saturation_threshold
        self.thresholds = Thresholds(vanishing_ratio, exploding_ratio, warn_fraction)
        self.bptt_every_n_epochs = bptt_every_n_epochs
        self._layers: dict[str, list[torch.nn.Parameter]] = {}
        self._side_path: set[str] = set()  # logged, not judged against the output layer
        self._activations: list[tuple[str, torch.nn.Module]] = []
        self._sampler: LayerSampler | None = None
        self._batch: Batch | None = None
        self._batch_looked_for = False
        self._findings = FindingLog()
        self._last: dict[str, object] = {}
        self._bptt_step: int | None = None
        self._epoch = 0  # the last epoch ended, from 1

    # -- results ------------------------------------------------------------------------------

    def findings(self) -> list[str]:
        """One line per (layer, problem) found in any epoch: which, when, and what usually helps."""
        return self._findings.lines()

    def last_epoch_figures(self) -> dict[str, object]:
        """The latest figures, JSON-ready: epoch (from 1), samples (steps averaged), layers ({layer:
        {grad_norm, weight_norm, update_ratio}}), examples, dead_fraction, saturated_fraction
        ({layer: f}), bptt_gradient (one norm per step) and bptt_first_over_last, each where measured."""
        return dict(self._last)

    # -- Lightning hooks ----------------------------------------------------------------------

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._layers = weighted_layers(pl_module)
        self._side_path = side_path_layers(pl_module, self._layers)
        self._activations = activation_layers(pl_module)
        if self._layers and trainer.optimizers:
            self._sampler = LayerSampler(self._layers, self.every_n_steps, first_step=trainer.global_step)
            # Kept in every epoch, as any may be the last (early stopping), whose histograms are due:
            # one more copy per sampled step, about a third of what a sample costs (0.2% of the steps
            # of scripts/bench.py's MLP, sampled one in 50).
            self._sampler.keep_gradients = self.every_n_epochs > 0
            self._sampler.attach(trainer.optimizers[0])

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_started = perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        self._histograms_pending |= self._histogram_epoch(trainer)
        started = perf_counter()
        if self._epoch_started is not None:
            self._trained_since_figures += started - self._epoch_started
        if self._figures_due():
            self._epoch_figures(trainer, pl_module, epoch)
            self._figures_cost = perf_counter() - started
            self._trained_since_figures = 0.0
            self._figures_epoch = epoch
        self._epoch = epoch
        if self.bptt_every_n_epochs and epoch % self.bptt_every_n_epochs == 0:
            self._log_bptt(trainer, pl_module)

    def _figures_due(self) -> bool:
        if self.time_budget is None or self._figures_cost is None:
            return True
        return self._trained_since_figures * self.time_budget >= self._figures_cost

    def _epoch_figures(self, trainer: pl.Trainer, pl_module: pl.LightningModule, epoch: int) -> None:
        """The norms of the steps sampled since the last figures, the fixed batch's dead and saturated
        units, as scalars, results.json's figures and findings."""
        scalars: dict[str, float] = {}
        found = []
        if self._sampler is not None and self._sampler.samples:
            samples = self._sampler.samples
            layers = self._sampler.epoch_means()
            self._last.update(
                epoch=epoch,
                samples=samples,
                layers={
                    name: {figure: _compact(value) for figure, value in values.items()}
                    for name, values in layers.items()
                },
            )
            scalars.update(
                {f"diagnostics/{figure}/{name}": v for name, values in layers.items() for figure, v in values.items()}
            )
            on_chain = {name: values["grad_norm"] for name, values in layers.items() if name not in self._side_path}
            found += gradient_findings(on_chain, self.thresholds)
        units = self._unit_fractions(trainer, pl_module)
        if units is not None:
            assert self._batch is not None  # the units were measured on it
            self._last.update(epoch=epoch, examples=len(next(iter(self._batch.values()))))
            for figure, by_layer in units.items():
                self._last[figure] = {name: _compact(value) for name, value in by_layer.items()}
                scalars.update({f"diagnostics/{figure}/{name}": value for name, value in by_layer.items()})
            found += unit_findings(units["dead_fraction"], units["saturated_fraction"], self.thresholds)
        if scalars:
            for logger in trainer.loggers:
                logger.log_metrics(scalars, step=trainer.global_step)
        if self._histograms_pending:
            self._log_histograms(trainer)
            self._histograms_pending = False
        self._report(found, epoch, trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._epoch and self._figures_epoch != self._epoch:  # skipped for time: results.json keeps the last epoch's
            self._epoch_figures(trainer, pl_module, self._epoch)
        if self.every_n_epochs > 0 and self._histograms_step != trainer.global_step:
            self._log_histograms(trainer)
        if self._bptt_step != trainer.global_step:
            self._log_bptt(trainer, pl_module)
        self._detach()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._detach()

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._detach()

    # -- the parts ----------------------------------------------------------------------------

    def _detach(self) -> None:
        if self._sampler is not None:
            self._sampler.detach()

    def _report(self, found: list, epoch: int, trainer: pl.Trainer) -> None:
        for finding in found:
            if self._findings.add(finding, epoch) and trainer.is_global_zero:
                log.warning("Diagnostics: %s.", describe(finding, epoch, epoch))

    def _histogram_epoch(self, trainer: pl.Trainer) -> bool:
        return self.every_n_epochs > 0 and (trainer.current_epoch + 1) % self.every_n_epochs == 0

    def _fixed_batch(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> Batch | None:
        """The first `num_examples` examples of the first validation batch, found once and kept."""
        if not self._batch_looked_for:
            self._batch_looked_for = True
            self._batch = first_examples(trainer, self.num_examples, pl_module.device)
        return self._batch

    def _unit_fractions(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, dict[str, float]] | None:
        batch = (
            self._fixed_batch(trainer, pl_module) if hasattr(pl_module, "forward_batch") and self._activations else None
        )
        if batch is None:
            return None
        # Only the network switches to eval mode (no dropout, batch norm's running statistics): the
        # task's metrics have no mode, and switching them all costs as much as the pass.
        network = getattr(pl_module, "model", pl_module)
        forward_batch = cast(Callable[[Batch], torch.Tensor], pl_module.forward_batch)  # there, as checked above
        training = network.training
        network.eval()
        try:
            with torch.no_grad():
                return activation_fractions(self._activations, lambda: forward_batch(batch), self.saturation_threshold)
        finally:
            network.train(training)

    def _log_histograms(self, trainer: pl.Trainer) -> None:
        sinks = Sinks.of(trainer.loggers)
        if not sinks:
            return
        self._histograms_step = trainer.global_step
        gradients = iter(self._sampler.gradients or []) if self._sampler is not None else iter(())
        for name, parameters in self._layers.items():
            log_histogram(sinks, f"diagnostics/weights/{name}", parameters, trainer.global_step)
            layer_gradients = [g for _, g in zip(parameters, gradients) if g is not None]
            if layer_gradients:
                log_histogram(sinks, f"diagnostics/gradients/{name}", layer_gradients, trainer.global_step)

    def _log_bptt(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        batch = self._fixed_batch(trainer, pl_module) if measurable(pl_module) else None
        if batch is None:
            return
        norms = bptt_gradient_norms(pl_module, batch)
        if not norms:
            return
        self._bptt_step = trainer.global_step
        ratio = first_over_last(norms)
        self._last["bptt_gradient"] = [_compact(n) for n in norms]
        self._last["bptt_first_over_last"] = None if ratio is None else _compact(ratio)
        model = cast(RecurrentNet, pl_module.model)  # measurable(pl_module) above
        layer = next(name for name, module in pl_module.named_modules() if module is model.rnn)
        self._report(bptt_findings(layer, model.cell, ratio, self.thresholds), self._epoch, trainer)
        if ratio is not None:
            for logger in trainer.loggers:
                logger.log_metrics({"diagnostics/bptt_first_over_last": ratio}, step=trainer.global_step)
        sinks = Sinks.of(trainer.loggers)
        if sinks:
            import matplotlib.pyplot as plt

            figure = draw_bptt(norms)
            sinks.figure("diagnostics/bptt_gradient", figure, trainer.global_step)
            plt.close(figure)


def first_examples(trainer: pl.Trainer, count: int, device: torch.device) -> Batch | None:
    """Up to `count` examples from the start of the first validation batch, on `device` and in the
    trainer's precision; None when there is no validation data or its batches are not dicts of
    tensors. The validation loader of the data module is asked directly when the Trainer has none
    (trainer.limit_val_batches=0)."""
    loader = trainer.val_dataloaders
    datamodule = trainer.datamodule  # type: ignore[attr-defined]  # set by Lightning's data connector, undeclared
    if (
        loader is None
        and datamodule is not None
        and is_overridden("val_dataloader", datamodule, pl.LightningDataModule)
    ):
        loader = datamodule.val_dataloader()
    if isinstance(loader, list | tuple):
        loader = loader[0] if loader else None
    if loader is None:
        return None
    batch = next(iter(loader), None)
    if isinstance(batch, list) and batch:
        batch = batch[0]
    if not isinstance(batch, dict) or not all(isinstance(v, torch.Tensor) for v in batch.values()):
        return None
    batch = trim_to_longest({key: tensor[:count] for key, tensor in batch.items()})
    batch = {key: tensor if key in LENGTH_KEYS else tensor.to(device) for key, tensor in batch.items()}
    # In the model's precision, as Lightning converts the training batches (float64 for 64-true).
    return trainer.precision_plugin.convert_input(batch)
