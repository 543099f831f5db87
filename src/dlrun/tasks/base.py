"""The training, validation and test steps shared by every supervised task."""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torchmetrics import MeanMetric, Metric, MetricCollection

from dlrun.data.loader import Batch
from dlrun.data.spec import DataSpec
from dlrun.epochs import user_epoch
from dlrun.errors import ConfigError, TrainingDiverged
from dlrun.models.calling import call_model, takes_lengths
from dlrun.tasks.fast_logging import FastLogging
from dlrun.tasks.metric_states import TRAIN_METRIC_STATES, metric_states, restore_metric_states
from dlrun.tasks.stepping import Stepper, StepSettings
from dlrun.training.losses import DEFAULT_LOSSES, check_supports
from dlrun.training.mid_epoch import batches_done_in_epoch

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]
# (optimizer, steps_per_epoch=, max_epochs=) -> a scheduler, Lightning's dict describing one, a list of
# those, or None
SchedulerFactory = Callable[..., object]
Regularizer = Callable[[nn.Module], Tensor]


class SupervisedTask(FastLogging):
    """Logs `<stage>/<metric>`: train/loss per epoch (train/loss_step per step), val/*, test/*.

    Optimization is manual so that one Lightning batch can hold several mini-batches (see
    TensorBatches' group_size), each with its own optimizer step (see stepping.py), taken as `steps`
    (clipping, accumulation, the step-loss log interval) says.
    """

    # The kinds of data (DataSpec.task) this task trains on.
    data_kinds: tuple[str, ...] = ()
    # Whether the task reads an output per step of a sequence (CTC), rather than one per example.
    reads_outputs_per_step = False
    # Shown next to the loss in the progress display; every metric goes to the loggers.
    headline_metrics: tuple[str, ...] = ()

    def __init__(
        self,
        model: nn.Module,
        spec: DataSpec,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        monitor: str = "val/loss",
        loss: nn.Module | None = None,
        regularizer: Regularizer | None = None,
        steps: StepSettings | None = None,
    ) -> None:
        super().__init__()
        if spec.task not in self.data_kinds:
            raise ValueError(
                f"{type(self).__name__} trains on {' or '.join(self.data_kinds)} data, but this data is "
                f"{spec.task}; leave task=auto to pick the task from the data"
            )
        if getattr(model, "outputs_per_step", False) and not self.reads_outputs_per_step:
            raise ValueError(
                f"the model gives an output per step (model.read_out=frames), which only a per-frame task such "
                f"as task=ctc reads; {type(self).__name__} needs one output per example: set model.read_out to "
                "last, mean, max or attention"
            )
        self.automatic_optimization = False
        self.model = model
        self._model_takes_lengths = takes_lengths(model)
        self.spec = spec
        self.loss_fn = loss if loss is not None else self.default_loss()
        check_supports(self.loss_fn, spec.task, num_classes=spec.num_classes)
        self.regularizer = regularizer
        if regularizer is not None:
            regularizer(model)  # a model it cannot penalize fails now, as a config error
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.monitor = monitor
        self.steps = steps or StepSettings()
        self.stepper: Stepper | None = None
        metrics = self.make_metrics()
        self.train_loss = MeanMetric()
        self.train_metrics = self.make_train_metrics().clone(prefix="train/")
        self.val_loss = MeanMetric()
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_loss = MeanMetric()
        self.test_metrics = metrics.clone(prefix="test/")

    def setup(self, stage: str) -> None:
        # oneDNN's convolutions on a CPU run faster on weights in channels-last order: a LeNet-5 step
        # 14% faster on 2 cores. Only the order of the weights in memory changes, not their values.
        if self.trainer.strategy.root_device.type == "cpu" and any(
            isinstance(m, nn.Conv2d) for m in self.model.modules()
        ):
            self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # a documented argument torch's stubs leave out

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return self.loss_fn(self.loss_inputs(outputs), targets)

    def batch_loss(self, outputs: Tensor, batch: Batch) -> Tensor:
        """The loss of one batch; a task whose loss reads more of the batch than its targets (CTC's
        frame and target lengths) says so here."""
        return self.loss(outputs, self.targets_of(batch))

    def loss_inputs(self, outputs: Tensor) -> Tensor:
        """The model's outputs as the loss takes them (one logit per example for binary, say)."""
        return outputs

    @abstractmethod
    def make_metrics(self) -> MetricCollection:
        """Metrics computed on validation and test sets."""

    @abstractmethod
    def make_train_metrics(self) -> MetricCollection:
        """A cheap subset computed on training batches, to compare with validation."""

    @abstractmethod
    def metric_inputs(self, outputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        """Turn model outputs and targets into what the metrics expect (probabilities, units)."""

    def metric_names(self, stage: str) -> list[str]:
        collection = {"train": self.train_metrics, "val": self.val_metrics, "test": self.test_metrics}[stage]
        return [f"{stage}/{self.loss_name(stage)}", *map(str, collection.keys())]

    def loss_name(self, stage: str) -> str:
        """What the loss is logged as in `stage` ("loss"; a task whose evaluation loss means
        something else names it so)."""
        return "loss"

    def default_loss(self) -> nn.Module:
        """The loss for `loss=auto`: the usual one for the data's kind."""
        return DEFAULT_LOSSES[self.spec.task]()

    def targets_of(self, batch: Batch) -> Tensor:
        """What the loss and the metrics compare the model's outputs with."""
        return batch["targets"]

    def forward_batch(self, batch: Batch) -> Tensor:
        """The model's outputs for a batch: the one place the task calls the model.

        A model whose forward takes `lengths` (sequences padded to the batch's longest) gets them.
        """
        return call_model(self.model, batch, self._model_takes_lengths)

    def forward(self, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        return self.forward_batch({"inputs": inputs} if lengths is None else {"inputs": inputs, "lengths": lengths})

    # -- training ---------------------------------------------------------------------------

    def on_train_start(self) -> None:
        self.stepper = Stepper(self, self.steps)

    def training_step(self, batches: list[Batch] | Batch, batch_idx: int) -> None:
        batches = [batches] if isinstance(batches, dict) else batches
        losses, outputs = [], []
        for batch in batches:
            output = self.forward_batch(batch)
            loss = self.batch_loss(output, batch)
            # The penalty shapes the step; the data loss alone is reported, to compare with val/loss.
            assert self.stepper is not None  # made in on_train_start
            self.stepper.backward_and_step(loss + self.regularizer(self.model) if self.regularizer else loss)
            losses.append(loss.detach())
            outputs.append(output.detach())
        if batch_idx + 1 == self.trainer.num_training_batches:
            self.stepper.finish_epoch()  # type: ignore[union-attr]  # made in on_train_start
        losses_t = torch.stack(losses)
        if not bool(torch.isfinite(losses_t).all()):  # one check per group of steps, not a sync per step
            raise TrainingDiverged(
                f"The training loss became {float(losses_t[~torch.isfinite(losses_t)][0])} at epoch "
                f"{user_epoch(self.current_epoch)}, step {self.global_step}: the run diverged. A lower optimizer.lr, "
                "gradient clipping (trainer.gradient_clip_val), normalized inputs or another init usually help."
            )
        sizes = torch.tensor([len(o) for o in outputs], device=losses_t.device, dtype=losses_t.dtype)
        self.train_loss.update(losses_t, weight=sizes)
        update_per_group(self.train_metrics, self.metric_inputs, outputs, [self.targets_of(batch) for batch in batches])
        self.log_step_loss(losses_t, self.steps.log_every_n_steps)

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train", self.train_loss, self.train_metrics)
        self.stepper.step_schedulers("epoch")  # type: ignore[union-attr]  # made in on_train_start

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # Inside an epoch (callbacks.step_checkpoint), the epoch's running training metrics go with
        # it, so a resumed epoch reports them over all of its batches, as if never interrupted.
        if batches_done_in_epoch(self.trainer):
            checkpoint[TRAIN_METRIC_STATES] = metric_states(self._train_accumulators())

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        restore_metric_states(self._train_accumulators(), checkpoint.get(TRAIN_METRIC_STATES, {}))

    def _train_accumulators(self) -> dict[str, Metric]:
        return {"loss": self.train_loss, **self.train_metrics}  # type: ignore[dict-item]  # a MetricCollection maps names to metrics

    # -- evaluation -------------------------------------------------------------------------

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate("val", batch, self.val_loss, self.val_metrics)

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val", self.val_loss, self.val_metrics)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate("test", batch, self.test_loss, self.test_metrics)

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test", self.test_loss, self.test_metrics)

    def test_extras(self) -> dict[str, object]:
        """What else the last test found, for results.json (a task's own breakdowns)."""
        return {}

    def update_extra_metrics(self, stage: str, predictions: Tensor, targets: Tensor) -> None:
        """Hook for metrics that are not scalars (a confusion matrix, say)."""

    def _evaluate(self, stage: str, batch: Batch, loss_metric: MeanMetric, metrics: MetricCollection) -> None:
        outputs = self.forward_batch(batch)
        loss_metric.update(self.batch_loss(outputs, batch), weight=len(outputs))
        predictions, targets = self.metric_inputs(outputs, self.targets_of(batch))
        metrics.update(predictions, targets)
        self.update_extra_metrics(stage, predictions, targets)

    def _log_epoch(self, stage: str, loss_metric: MeanMetric, metrics: MetricCollection) -> None:
        # Computed once per epoch, so the per-step path never waits on a device-to-host sync.
        if loss_metric.update_count == 0:
            return
        values = {f"{stage}/{self.loss_name(stage)}": loss_metric.compute(), **metrics.compute()}
        headline = {f"{stage}/{name}" for name in (self.loss_name(stage), *self.headline_metrics)}
        if stage == "train":
            self.publish_epoch_values(values, headline)
        else:
            # Lightning builds what validate() and test() return from what self.log collects, and
            # writes it with `epoch` at the optimizer step (see fast_logging.align_logging_step).
            for name, value in values.items():
                self.log(name, value, prog_bar=name in headline)
            if stage == "val":
                # Lightning adds its 0-based current_epoch as `epoch` unless one is logged; the test
                # values after fit get its count of epochs trained, which is the last one's number.
                self.log("epoch", float(user_epoch(self.current_epoch)))
        loss_metric.reset()
        metrics.reset()

    def configure_optimizers(self):
        # The factories are the user's settings, called only now that the data is known: a bad
        # value must still end the run as a config error rather than a traceback.
        try:
            optimizer = self.optimizer_factory(self.parameters())
            schedules = None
            if self.scheduler_factory is not None:
                accumulate = self.steps.accumulate_grad_batches
                steps_per_epoch = math.ceil(self.trainer.datamodule.train_batches_per_epoch / accumulate)
                schedules = self.scheduler_factory(
                    optimizer, steps_per_epoch=steps_per_epoch, max_epochs=self.trainer.max_epochs
                )
        except (ValueError, TypeError) as e:
            raise ConfigError(f"The optimizer or scheduler settings do not work: {str(e).rstrip('.')}.") from None
        # A factory returns a scheduler, Lightning's dict for one, a list of those, or None / [].
        schedules = schedules if isinstance(schedules, list) else [] if schedules is None else [schedules]
        if not schedules:
            return optimizer
        configs = [dict(s) if isinstance(s, dict) else {"scheduler": s, "interval": "epoch"} for s in schedules]
        # Lightning drops `monitor` under manual optimization; the Stepper reads it from here.
        self.scheduler_monitors = {id(c["scheduler"]): c.pop("monitor", self.monitor) for c in configs}
        return [optimizer], configs


def update_per_group(
    metrics: MetricCollection,
    metric_inputs: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]],
    outputs: list[Tensor],
    targets: list[Tensor],
) -> None:
    """Update `metrics` with a group of training batches, on device (no host sync).

    Batches whose outputs and targets have the same shape per example (a label or value each) are
    joined and counted in one update: an update costs about a tenth of a small model's step. Batches
    that differ past the first dimension (token outputs of sequences padded to different lengths)
    are never joined: each is counted on its own.
    """
    same_shape = all(o.shape[1:] == outputs[0].shape[1:] for o in outputs) and all(
        t.shape[1:] == targets[0].shape[1:] for t in targets
    )
    if same_shape:
        metrics.update(*metric_inputs(torch.cat(outputs), torch.cat(targets)))
    else:
        for output, target in zip(outputs, targets):
            metrics.update(*metric_inputs(output, target))
