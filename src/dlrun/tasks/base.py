"""The training, validation and test steps shared by every supervised task."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable

import pytorch_lightning as pl
from torch import Tensor, nn
from torch.optim import Optimizer
from torchmetrics import MeanMetric, MetricCollection

from dlrun.data.loader import Batch

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]
SchedulerFactory = Callable[[Optimizer], object]


class SupervisedTask(pl.LightningModule):
    """Logs `<stage>/<metric>`: train/loss per epoch (train/loss_step per step), val/*, test/*."""

    # Shown next to the loss in the progress display; every metric goes to the loggers.
    headline_metrics: tuple[str, ...] = ()

    def __init__(
        self,
        model: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        monitor: str = "val/loss",
    ) -> None:
        super().__init__()
        self.model = model
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.monitor = monitor
        metrics = self.make_metrics()
        self.train_loss = MeanMetric()
        self.train_metrics = self.make_train_metrics().clone(prefix="train/")
        self.val_loss = MeanMetric()
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_loss = MeanMetric()
        self.test_metrics = metrics.clone(prefix="test/")

    @abstractmethod
    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor: ...

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
        return [f"{stage}/loss", *collection.keys()]

    def forward(self, inputs: Tensor) -> Tensor:
        return self.model(inputs)

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        outputs = self.model(batch["inputs"])
        loss = self.loss(outputs, batch["targets"])
        detached = loss.detach()
        self.train_loss.update(detached)
        self.train_metrics.update(*self.metric_inputs(outputs.detach(), batch["targets"]))
        self.log("train/loss_step", detached, prog_bar=True, on_step=True, on_epoch=False)
        return loss

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train", self.train_loss, self.train_metrics)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate("val", batch, self.val_loss, self.val_metrics)

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val", self.val_loss, self.val_metrics)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate("test", batch, self.test_loss, self.test_metrics)

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test", self.test_loss, self.test_metrics)

    def update_extra_metrics(self, stage: str, predictions: Tensor, targets: Tensor) -> None:
        """Hook for metrics that are not scalars (a confusion matrix, say)."""

    def _evaluate(self, stage: str, batch: Batch, loss_metric: MeanMetric, metrics: MetricCollection) -> None:
        outputs = self.model(batch["inputs"])
        loss_metric.update(self.loss(outputs, batch["targets"]), weight=len(outputs))
        predictions, targets = self.metric_inputs(outputs, batch["targets"])
        metrics.update(predictions, targets)
        self.update_extra_metrics(stage, predictions, targets)

    def _log_epoch(self, stage: str, loss_metric: MeanMetric, metrics: MetricCollection) -> None:
        # Computed once per epoch, so the per-step path never waits on a device-to-host sync.
        values = {f"{stage}/loss": loss_metric.compute(), **metrics.compute()}
        headline = {f"{stage}/{name}" for name in ("loss", *self.headline_metrics)}
        for name, value in values.items():
            self.log(name, value, prog_bar=name in headline)
        loss_metric.reset()
        metrics.reset()

    def configure_optimizers(self):
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "epoch", "monitor": self.monitor},
        }
