"""Users' own images: one subfolder per class, read with Pillow and resized to one size."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from dlrun.data.class_folders import find_class_files
from dlrun.data.in_memory import SplittingDataModule
from dlrun.data.loader import Batch
from dlrun.data.spec import DataSpec
from dlrun.errors import ConfigError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
Channels = Literal[1, 3]
PIL_MODES: dict[Channels, str] = {1: "L", 3: "RGB"}


class ImageFolderDataModule(SplittingDataModule):
    """PATH/<class name>/**/*.png|jpg|jpeg, served as C x H x W images; class names sorted."""

    def __init__(
        self,
        path: str | None = None,
        image_size: Sequence[int] = (32, 32),
        channels: Channels = 3,
        **options,
    ) -> None:
        super().__init__(**options)
        if path is None:
            raise ConfigError(
                "data.path is not set: point it at a folder with one subfolder of images per class, e.g. "
                "`dlrun train data=image_folder data.path=photos` with photos/cat/*.jpg and photos/dog/*.jpg."
            )
        size = list(image_size) if isinstance(image_size, Sequence) and not isinstance(image_size, str) else []
        if len(size) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size):
            raise ConfigError(f"data.image_size must be [height, width] in pixels, e.g. [32, 32]; got {image_size}.")
        if channels not in get_args(Channels):
            raise ConfigError(f"data.channels must be 1 (grayscale) or 3 (RGB), got {channels}.")
        self.path = Path(str(path)).expanduser()
        self.image_size = (size[0], size[1])
        self.channels = channels

    def load(self) -> tuple[dict[str, Batch], DataSpec]:
        classes, files, labels = find_images(self.path)
        pixels = np.stack([read_image(f, self.image_size, self.channels) for f in files])
        indices = self.split_positions(labels, stratify=True)
        # Per-pixel scaling, as for the digits: each pixel's statistics come from the training split.
        flat = pixels.reshape(len(pixels), -1)
        scaler = self.fit_scaler(flat[indices["train"]])
        if scaler is not None:
            flat = scaler.transform(flat)
        inputs = torch.as_tensor(flat, dtype=torch.float32).reshape(pixels.shape)
        targets = torch.as_tensor(labels, dtype=torch.int64)
        spec = DataSpec(
            "binary" if len(classes) == 2 else "multiclass",
            tuple(inputs.shape[1:]),
            num_classes=len(classes),
            class_names=tuple(classes),
        )
        splits = {
            split: {"inputs": inputs[torch.as_tensor(idx)], "targets": targets[torch.as_tensor(idx)]}
            for split, idx in indices.items()
        }
        return splits, spec

    # -- what `dlrun predict` needs to repeat load() on new images (preprocessing.json)

    def save_preprocessing(self, directory: Path) -> None:
        """Write preprocessing.json: how images are read (Pillow mode, size, bilinear resampling,
        0..255 to 0..1), the per-pixel scaler fitted on the training split (C x H x W values, in
        that order), and the class names (the sorted folder names)."""
        from dlrun.data.preprocessing_file import pillow_reader, scaler_to_json, write_preprocessing

        spec = self.spec  # loads, so the scaler exists
        write_preprocessing(
            directory,
            "image",
            type(self).__name__,
            spec,
            image=pillow_reader(PIL_MODES[self.channels], self.channels, list(self.image_size), 255.0),
            scaler=scaler_to_json(self.fitted_scaler),
            scaling="per_pixel",
            task=spec.task,
            class_names=list(spec.class_names),
        )


def find_images(root: Path) -> tuple[list[str], list[Path], np.ndarray]:
    """Class names (sorted subfolder names), every image file under them, and each file's class index."""
    return find_class_files(root, IMAGE_EXTENSIONS, "images", ("cat/1.jpg", "dog/1.jpg"))


def read_image(path: Path, size: tuple[int, int], channels: Channels) -> np.ndarray:
    """One image as a float32 array C x H x W with values in [0, 1]."""
    height, width = size
    try:
        with Image.open(path) as image:
            image = image.convert(PIL_MODES[channels]).resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise ConfigError(
            f"Could not read the image '{path}' under data.path: {' '.join(str(e).split())}. Replace or "
            f"remove the file."
        ) from None
    return pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)
