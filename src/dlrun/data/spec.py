"""What a data module serves, so models and tasks are built without repeating it in configs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

TaskKind = Literal["multiclass", "binary", "regression"]


@dataclass(frozen=True)
class DataSpec:
    task: TaskKind
    input_shape: tuple[int, ...]  # one example, e.g. (4,) for iris or (1, 8, 8) for digits
    num_classes: int = 0  # classification only
    class_names: tuple[str, ...] = ()
    # Regression targets are standardized for training; metrics are reported in the original units.
    target_mean: float = 0.0
    target_std: float = 1.0

    @property
    def num_outputs(self) -> int:
        """Width of the model's last layer: one logit for binary, one value for regression."""
        return self.num_classes if self.task == "multiclass" else 1

    @property
    def num_features(self) -> int:
        return math.prod(self.input_shape)
