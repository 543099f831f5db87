"""Fashion-MNIST: 28x28 grayscale images of Zalando's articles in 10 classes (MIT license).

The full 60,000/10,000 set comes from the Debian package `dataset-fashion-mnist`, since nothing may
be downloaded at run time; a seeded, stratified 5,000/1,000 subset ships inside dlrun, so the data
set also works where that package is not installed (CI, other systems).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from dlrun.data.idx import read_idx
from dlrun.data.image_ops import ImageAugmentation, ImagePreprocessing
from dlrun.data.in_memory import InMemoryDataModule
from dlrun.data.loader import Batch
from dlrun.data.spec import DataSpec
from dlrun.data.splits import Scaling, split_train_val
from dlrun.errors import ConfigError

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
DEBIAN_ROOT = "/usr/share/datasets/fashion-mnist"
INSTALL_COMMAND = "sudo apt-get install dataset-fashion-mnist"
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SMALL_SUBSET = Path(__file__).with_name("files") / "fashion_mnist_small.npz"

# 'train' | 'test' -> (uint8 images (N, H, W), integer labels (N,))
RawSplits = dict[str, tuple[np.ndarray, np.ndarray]]


class FashionMNISTSmallDataModule(InMemoryDataModule):
    """The bundled subset: 500 training and 100 test images per class, made from the Debian files by
    scripts/make_fashion_mnist_small.py. Everything but where the images come from is shared with
    FashionMNISTDataModule below.

    The validation split is carved from the training images, stratified. `classes` keeps only
    those classes, relabelled 0..k-1 in the order given (to pretrain on some and fine-tune on
    others). See ImagePreprocessing and ImageAugmentation for the other options.
    """

    def __init__(
        self,
        batch_size: int | None = 64,
        eval_batch_size: int | None = 1024,
        steps_per_execution: int = 32,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        folds: int | None = None,
        fold: int = 0,
        classes: Sequence[int] | None = None,
        scaling: Scaling | None = "standard",
        grayscale: bool = False,
        resize: Sequence[int] | None = None,
        blur: float | None = None,
        median: int | None = None,
        augment: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, steps_per_execution)
        self.val_fraction = val_fraction
        self.split_seed = split_seed
        self.folds = folds
        self.fold = fold
        self.classes = check_classes(classes)
        self.preprocessing = ImagePreprocessing(scaling, grayscale, resize, blur, median)
        self._augment = ImageAugmentation.from_options(augment)

    def raw(self) -> RawSplits:
        with np.load(SMALL_SUBSET) as subset:
            return {split: (subset[f"{split}_images"], subset[f"{split}_labels"]) for split in ("train", "test")}

    def load(self) -> tuple[dict[str, Batch], DataSpec]:
        raw = {split: keep_classes(images, labels, self.classes) for split, (images, labels) in self.raw().items()}
        train_images, train_labels = raw["train"]
        parts = split_train_val(
            train_labels, self.val_fraction, seed=self.split_seed, stratify=True, folds=self.folds, fold=self.fold
        )
        train, val = parts["train"], parts["val"]
        chosen = {
            "train": (train_images[train], train_labels[train]),
            "val": (train_images[val], train_labels[val]),
            "test": raw["test"],
        }
        images, black = self.preprocessing({split: torch.from_numpy(x)[:, None] for split, (x, _) in chosen.items()})
        # Padding and rotation fill with black as it looks after scaling, not with a gray zero.
        self.augmentation = replace(self._augment, fill=black) if self._augment.active else None
        splits = {
            split: {"inputs": images[split], "targets": torch.as_tensor(labels, dtype=torch.int64)}
            for split, (_, labels) in chosen.items()
        }
        names = tuple(CLASS_NAMES[c] for c in self.classes)
        spec = DataSpec("multiclass", tuple(images["train"].shape[1:]), num_classes=len(names), class_names=names)
        return splits, spec

    def save_preprocessing(self, directory: Path) -> None:
        """Write preprocessing.json: the raw images' size (28x28 grayscale, pixel values 0..255, a light
        article on a black background), the filters (grayscale, resize, median, blur) and the
        per-channel shift and scale of data.scaling, fitted on the training split's filtered images."""
        from dlrun.data.preprocessing_file import pillow_reader, write_preprocessing

        spec = self.spec
        images, labels = keep_classes(*self.raw()["train"], self.classes)
        train = split_train_val(
            labels, self.val_fraction, seed=self.split_seed, stratify=True, folds=self.folds, fold=self.fold
        )["train"]
        filtered = self.preprocessing.filter(torch.from_numpy(images[train])[:, None])
        shift, scale = self.preprocessing.fit_scaling(filtered)
        p = self.preprocessing
        write_preprocessing(
            directory,
            "image",
            type(self).__name__,
            spec,
            image=pillow_reader("L", 1, list(images.shape[1:]), 1.0),
            filters={
                "scaling": p.scaling,
                "grayscale": p.grayscale,
                "resize": None if p.resize is None else list(p.resize),
                "blur": p.blur,
                "median": p.median,
            },
            scaling="per_channel",
            shift=shift.flatten().tolist(),
            scale=scale.flatten().tolist(),
            classes=list(self.classes),
            task=spec.task,
            class_names=list(spec.class_names),
        )


class FashionMNISTDataModule(FashionMNISTSmallDataModule):
    """The full set, read from the IDX files in `root` (by default where the Debian package puts them)."""

    def __init__(self, root: str = DEBIAN_ROOT, **options) -> None:
        super().__init__(**options)
        self.root = Path(root).expanduser()

    def raw(self) -> RawSplits:
        paths = {name: _find(self.root, name) for pair in IDX_FILES.values() for name in pair}
        missing = [name for name, path in paths.items() if path is None]
        if missing:
            raise ConfigError(
                f"Fashion-MNIST was not found: {self.root} lacks {', '.join(f'{m}.gz' for m in missing)}. "
                f"Install it with `{INSTALL_COMMAND}` (Debian), point data.root=DIR at a directory that holds "
                f"the four IDX files of Fashion-MNIST (gzipped or not), or use the 5,000/1,000 subset that "
                f"ships with dlrun: data=fashion_mnist_small."
            )
        found = {name: path for name, path in paths.items() if path is not None}  # all of them, as checked above
        raw = {}
        for split, (images_name, labels_name) in IDX_FILES.items():
            images, labels = read_idx(found[images_name]), read_idx(found[labels_name])
            labels_ok = labels.shape == images.shape[:1] and ((labels >= 0) & (labels < len(CLASS_NAMES))).all()
            if images.ndim != 3 or not labels_ok:
                raise ConfigError(
                    f"{found[images_name]} and {found[labels_name]} are not Fashion-MNIST: expected images of "
                    f"shape (N, height, width) and N labels from 0 to 9, got images of shape {images.shape} "
                    f"and labels of shape {labels.shape} with values {np.unique(labels)[:12].tolist()}."
                )
            raw[split] = (images, labels)
        return raw


def _find(root: Path, name: str) -> Path | None:
    for candidate in (root / f"{name}.gz", root / name):
        if candidate.is_file():
            return candidate
    return None


def check_classes(classes: Sequence[int] | None) -> list[int]:
    """The class indices to keep, in order; all ten when None."""
    if classes is None:
        return list(range(len(CLASS_NAMES)))
    classes = list(classes)
    valid = all(isinstance(c, int) and 0 <= c < len(CLASS_NAMES) for c in classes)
    if not valid or len(set(classes)) != len(classes) or len(classes) < 2:
        listing = ", ".join(f"{i} {name}" for i, name in enumerate(CLASS_NAMES))
        raise ConfigError(
            f"data.classes must list at least two different class indices, e.g. data.classes=[0,1,2,3,4], "
            f"or be null for all ten; got {classes}. Classes: {listing}."
        )
    return classes


def keep_classes(images: np.ndarray, labels: np.ndarray, classes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Only the examples of `classes`, relabelled by their position in that list."""
    new_label = np.full(len(CLASS_NAMES), -1, dtype=np.int64)
    new_label[classes] = np.arange(len(classes))
    relabelled = new_label[labels]
    kept = relabelled >= 0
    return images[kept], relabelled[kept]
