"""The adding problem: sum the two marked values of a long sequence, a test of long-range memory.

Hochreiter & Schmidhuber (1997) posed it; this is the version of Le et al. (2015) and Arjovsky et
al. (2016). Each example is a sequence of `sequence_length` steps with two features per step:
- feature 0, a value drawn uniformly from [0, 1);
- feature 1, a marker: 1 at exactly two steps, 0 at every other. One marked step is drawn uniformly
  from the first half (steps 0 .. T//2 - 1), the other from the second half (T//2 .. T-1).
The target is the sum of the two marked values, a number in [0, 2) with mean 1 and variance
2 * 1/12 = 1/6. A model that ignores its inputs and always predicts 1.0 therefore scores a mean
squared error of 1/6 ~= 0.167 (test/rmse ~= 0.408): that is the baseline to beat, and a model stuck
near it has learnt nothing. The first marker sits at least T/2 steps before the end, so a model has
to carry one value across that many steps; simple RNNs lose it (vanishing gradients), gated cells
(LSTM, GRU) can keep it.

The data are generated here, never downloaded: `generator_seed` seeds a numpy SeedSequence that is
split into three independent streams, one per split (train, val, test). The splits are therefore
never drawn from the same random numbers, and a split depends only on its own size and the seed:
a larger `train_size` leaves the validation and test examples as they were. The module does not see
the run's `seed` (which seeds the weights and the shuffling); change `data.generator_seed` for
another draw of the data.

Targets are standardized with the known mean 1.0 and standard deviation sqrt(1/6), not with a
split's statistics: a standardized target of 0 is the constant-1.0 predictor, so the training and
validation loss (MSE on standardized targets) read about 1.0 at the baseline. The regression task
reports test/mae, test/rmse and test/r2 in the original units (square test/rmse for the MSE).
`baselines()` scores the constant-1.0 predictor on the test split with the same metrics. Inputs are
not scaled (values in [0, 1), markers 0/1); every sequence has full length, so no `lengths` are
served.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from dlrun.checks import check_generated_data, check_number
from dlrun.data.in_memory import SPLITS, InMemoryDataModule
from dlrun.data.loader import Batch
from dlrun.data.spec import DataSpec

# The target is the sum of two independent U(0, 1) values.
TARGET_MEAN = 1.0
TARGET_VARIANCE = 1.0 / 6.0
TARGET_STD = math.sqrt(TARGET_VARIANCE)
# Mean squared error of always predicting the mean 1.0: the variance of the target.
BASELINE_MSE = TARGET_VARIANCE


def adding_examples(count: int, sequence_length: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`count` examples: inputs (count, sequence_length, 2) float32 (value, marker) and targets
    (count,) float64, the sum of the two marked values, in original units."""
    half = sequence_length // 2
    values = rng.random((count, sequence_length))
    first = rng.integers(0, half, size=count)
    second = rng.integers(half, sequence_length, size=count)
    markers = np.zeros((count, sequence_length))
    rows = np.arange(count)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    targets = values[rows, first] + values[rows, second]
    inputs = np.stack([values, markers], axis=-1).astype(np.float32)
    return inputs, targets


class AddingDataModule(InMemoryDataModule):
    """The adding problem (see the module's docstring): regression on generated sequences, where
    predicting the constant 1.0 gives MSE 1/6 ~= 0.167.

    `options` (batch_size, eval_batch_size, steps_per_execution, bucket_pool_batches) go to
    InMemoryDataModule untouched.
    """

    def __init__(
        self,
        sequence_length: int = 50,
        train_size: int = 10000,
        val_size: int = 1000,
        test_size: int = 1000,
        generator_seed: int = 0,
        **options,
    ) -> None:
        super().__init__(**options)
        check_number(
            "data.sequence_length",
            sequence_length,
            at_least=2,
            whole=True,
            unit="steps",
            hint="One marker is placed in each half of the sequence, so it needs two steps at least "
            "(the classic settings are 50 to 1000).",
        )
        check_generated_data(train_size, val_size, test_size, generator_seed)
        self.sequence_length = int(sequence_length)
        self.train_size = int(train_size)
        self.val_size = int(val_size)
        self.test_size = int(test_size)
        self.generator_seed = int(generator_seed)

    def load(self) -> tuple[dict[str, Batch], DataSpec]:
        streams = np.random.SeedSequence(self.generator_seed).spawn(len(SPLITS))
        counts = {"train": self.train_size, "val": self.val_size, "test": self.test_size}
        splits = {}
        for split, stream in zip(SPLITS, streams):
            inputs, targets = adding_examples(counts[split], self.sequence_length, np.random.default_rng(stream))
            splits[split] = {
                "inputs": torch.as_tensor(inputs),
                "targets": torch.as_tensor((targets - TARGET_MEAN) / TARGET_STD, dtype=torch.float32),
            }
        spec = DataSpec(
            "regression",
            (self.sequence_length, 2),
            target_mean=TARGET_MEAN,
            target_std=TARGET_STD,
            max_length=self.sequence_length,
        )
        return splits, spec

    def baselines(self) -> dict[str, dict[str, float]]:
        """The constant-1.0 predictor on the test split, in original units (its MSE is about 1/6):
        {"constant_1": {"test/mae", "test/rmse", "test/r2"}}."""
        targets = self.split("test")["targets"].double().numpy() * TARGET_STD + TARGET_MEAN
        errors = targets - TARGET_MEAN
        spread = float(np.sum((targets - targets.mean()) ** 2))
        scores = {
            "test/mae": float(np.mean(np.abs(errors))),
            "test/rmse": float(np.sqrt(np.mean(errors**2))),
        }
        if spread > 0:
            scores["test/r2"] = 1.0 - float(np.sum(errors**2)) / spread
        return {"constant_1": scores}
