"""The small data sets bundled with scikit-learn: no download, so they work offline and in CI."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch
from sklearn import datasets

from dlrun.choices import check_config_choice
from dlrun.data.in_memory import SplittingDataModule
from dlrun.data.loader import Batch
from dlrun.data.spec import DataSpec, TaskKind

# name -> (loader, task, shape of one example); digits are served as 1x8x8 images, which an MLP
# flattens to its 64 features, so the same data set feeds both families.
SklearnSet = Literal["digits", "iris", "wine", "breast_cancer", "diabetes"]
SKLEARN_SETS: dict[SklearnSet, tuple[str, TaskKind, tuple[int, ...] | None]] = {
    "digits": ("load_digits", "multiclass", (1, 8, 8)),
    "iris": ("load_iris", "multiclass", None),
    "wine": ("load_wine", "multiclass", None),
    "breast_cancer": ("load_breast_cancer", "binary", None),
    "diabetes": ("load_diabetes", "regression", None),
}


class SklearnDataModule(SplittingDataModule):
    """digits, iris, wine, breast_cancer (binary) and diabetes (regression), split and scaled."""

    name: SklearnSet  # not LightningDataModule's optional name

    def __init__(
        self,
        name: SklearnSet = "digits",
        **options,
    ) -> None:
        super().__init__(**options)
        check_config_choice("data.name", name, SklearnSet)
        self.name = name

    def load(self) -> tuple[dict[str, Batch], DataSpec]:
        loader, task, image_shape = SKLEARN_SETS[self.name]
        bunch = getattr(datasets, loader)()
        features = np.asarray(bunch.data, dtype=np.float64)
        targets = np.asarray(bunch.target)
        indices = self.split_positions(targets, stratify=task != "regression")
        scaler = self.fit_scaler(features[indices["train"]])
        if scaler is not None:
            features = scaler.transform(features)
        inputs = torch.as_tensor(features, dtype=torch.float32)
        if image_shape is not None:
            inputs = inputs.reshape(-1, *image_shape)

        if task == "regression":
            train_targets = targets[indices["train"]]
            mean, std = float(train_targets.mean()), float(train_targets.std())
            target_tensor = torch.as_tensor((targets - mean) / std, dtype=torch.float32)
            spec = DataSpec(task, tuple(inputs.shape[1:]), target_mean=mean, target_std=std)
        else:
            target_tensor = torch.as_tensor(targets, dtype=torch.int64)
            names = tuple(str(n) for n in getattr(bunch, "target_names", range(targets.max() + 1)))
            spec = DataSpec(task, tuple(inputs.shape[1:]), num_classes=len(names), class_names=names)

        splits = {
            split: {"inputs": inputs[torch.as_tensor(idx)], "targets": target_tensor[torch.as_tensor(idx)]}
            for split, idx in indices.items()
        }
        return splits, spec

    # -- what `dlrun predict` needs to repeat load() on new examples (preprocessing.json)

    def save_preprocessing(self, directory: Path) -> None:
        """Write preprocessing.json: the feature names as scikit-learn gives them (digits:
        pixel_0_0 .. pixel_7_7, row by row, values 0 to 16), the scaler fitted on the training split,
        and the class names or the target scaling. Digits are also described as 8x8 images."""
        from dlrun.data.preprocessing_file import scaler_to_json, write_preprocessing

        spec = self.spec  # loads, so the scaler exists
        loader, task, image_shape = SKLEARN_SETS[self.name]
        bunch = getattr(datasets, loader)()
        content: dict[str, object] = {
            "name": self.name,
            "features": [str(n) for n in bunch.feature_names],
            "scaler": scaler_to_json(self.fitted_scaler),
            "task": task,
            "class_names": list(spec.class_names),
            "target_mean": spec.target_mean,
            "target_std": spec.target_std,
        }
        if image_shape is not None:
            # An image file is read as grayscale, resized to 8x8 (bilinear) and mapped from 0..255 to
            # the data set's 0..16, light ink on a dark background as the data set stores it.
            content["image"] = {"shape": list(image_shape), "pixel_max": float(np.max(bunch.data))}
        write_preprocessing(
            directory, "image" if image_shape is not None else "table", type(self).__name__, spec, **content
        )
