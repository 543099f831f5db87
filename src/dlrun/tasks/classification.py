"""Binary (one logit, sigmoid) and multiclass (one logit per class, softmax) classification."""

from __future__ import annotations

from typing import Any, cast

from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    Accuracy,
    ConfusionMatrix,
    F1Score,
    Precision,
    Recall,
)

from dlrun.tasks.base import SupervisedTask


class ClassificationTask(SupervisedTask):
    """Cross-entropy for multiclass, binary cross-entropy on logits for binary; macro P/R/F1."""

    data_kinds = ("multiclass", "binary")
    headline_metrics = ("acc",)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Kept out of the scalar collections: it is a matrix, read by the confusion-matrix callback.
        self.confusion = nn.ModuleDict({stage: ConfusionMatrix(**self._metric_kind()) for stage in ("val", "test")})

    @property
    def binary(self) -> bool:
        return self.spec.task == "binary"

    def _confusion(self, stage: str) -> ConfusionMatrix:
        # A ModuleDict hands back an nn.Module; the entries are the ConfusionMatrix built above.
        return cast(ConfusionMatrix, self.confusion[stage])

    def _metric_kind(self) -> dict[str, Any]:
        if self.binary:
            return {"task": "binary"}
        return {"task": "multiclass", "num_classes": self.spec.num_classes}

    def make_metrics(self) -> MetricCollection:
        kind = self._metric_kind()
        macro: dict[str, Any] = {} if self.binary else {"average": "macro"}
        return MetricCollection(
            {
                "acc": Accuracy(**kind),
                "precision": Precision(**kind, **macro),
                "recall": Recall(**kind, **macro),
                "f1": F1Score(**kind, **macro),
            }
        )

    def make_train_metrics(self) -> MetricCollection:
        return MetricCollection({"acc": Accuracy(**self._metric_kind())})

    def loss_inputs(self, outputs: Tensor) -> Tensor:
        return outputs.squeeze(-1) if self.binary else outputs

    def metric_inputs(self, outputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        if self.binary:
            return outputs.squeeze(-1).sigmoid(), targets
        return outputs, targets

    def update_extra_metrics(self, stage: str, predictions: Tensor, targets: Tensor) -> None:
        self._confusion(stage).update(predictions, targets)

    def on_validation_epoch_start(self) -> None:
        self._confusion("val").reset()

    def on_test_epoch_start(self) -> None:
        self._confusion("test").reset()
