"""What a data module serves, so models and tasks are built without repeating it in configs."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Literal

# dlrun's own kinds; a data module of a user's may serve another, for a task of theirs (task=...).
TaskKind = Literal["multiclass", "binary", "regression", "forecasting", "seq2seq", "ctc"]


@dataclass(frozen=True)
class DataSpec:
    """One example's shape and what the targets are; the sequence fields stay 0 for tables and images.

    `input_shape` is one example as served: (features,) for a table, (channels, height, width) for
    an image, (steps, features) for a series window, (max_length,) for token ids (then `vocab_size`
    is set). Batches of sequences also carry `lengths`, the real steps of each example.
    """

    task: TaskKind
    input_shape: tuple[int, ...]
    num_classes: int = 0  # classification only
    class_names: tuple[str, ...] = ()
    # Regression and forecasting targets are standardized for training; metrics are reported in the
    # original units (value = scaled * target_std + target_mean).
    target_mean: float = 0.0
    target_std: float = 1.0
    # Token inputs: ids in [0, vocab_size), padding with pad_id (embeddings take it as padding_idx).
    vocab_size: int = 0
    pad_id: int = 0
    # Sequences: the longest one served (0 = inputs are not sequences).
    max_length: int = 0
    # Forecasting: steps predicted per window, and the in-sample MAE of the seasonal-naive forecast
    # on the training part in original units (the denominator of MASE).
    horizon: int = 0
    naive_scale: float = 0.0
    # Seq2Seq: the source side is vocab_size / max_length above (its pad id is pad_id, shared by
    # both sides); the target side has its own vocabulary, with BOS and EOS ids distinct from PAD.
    source_vocab_size: int = 0
    target_vocab_size: int = 0
    bos_id: int = 0
    eos_id: int = 0
    max_target_length: int = 0
    # CTC (unaligned labels for a sequence of frames): target_vocab_size counts the labels, the blank
    # at id 0 (class_names[0]) first; max_target_length is the most labels an example has.

    @property
    def num_outputs(self) -> int:
        """Width of the model's last layer: one logit for binary, one value for regression, one per
        step ahead for forecasting, one per label (blank included) and frame for CTC."""
        if self.task == "multiclass":
            return self.num_classes
        if self.task == "forecasting":
            return self.horizon
        if self.task in ("seq2seq", "ctc"):
            return self.target_vocab_size
        return 1

    @property
    def num_features(self) -> int:
        return math.prod(self.input_shape)

    @property
    def is_sequence(self) -> bool:
        return self.max_length > 0

    def serves(self, name: str) -> bool:
        """Whether this data gives `name` a value; 0 stands for "not this kind of data" except for
        ids, which are served when their vocabulary is."""
        if name == "pad_id":
            return self.vocab_size > 0 or self.target_vocab_size > 0
        if name in ("bos_id", "eos_id"):
            return self.target_vocab_size > 0
        value = self.model_arguments()[name]
        return not isinstance(value, int | float) or value != 0

    def model_arguments(self) -> dict[str, object]:
        """Everything a model may ask for by naming it as a constructor argument."""
        values = {field.name: getattr(self, field.name) for field in fields(self)}
        values["num_outputs"] = self.num_outputs
        values["num_features"] = self.num_features
        return values
