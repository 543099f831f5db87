"""Images: data=image_folder, fashion_mnist(_small) and digits, read with Pillow as training read them.

- image_folder: converted to the run's mode (L or RGB), resized to data.image_size (bilinear),
  0..255 to 0..1, then the per-pixel scaler of the training split.
- fashion_mnist: grayscale, resized to the raw 28x28 if it is not (bilinear), raw 0..255 values, then
  the run's filters (grayscale, resize, median, blur) and per-channel scaling, the same tensor ops.
  Like the data set, a light article on a black background.
- digits: grayscale, resized to 8x8 (bilinear), 0..255 to the data set's 0..16 (light ink on a dark
  background, as scikit-learn stores the digits), then the per-pixel scaler. A digits run also
  takes a CSV of its 64 pixel columns (see tables.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from PIL import Image, UnidentifiedImageError

from dlrun.errors import DlrunError
from dlrun.predict import inputs as read
from dlrun.predict.modules import DigitPixels, FilteredPixels, FolderPixels
from dlrun.predict.output import Predictions, with_inputs
from dlrun.predict.run import PredictingRun, classes_or_values, in_batches
from dlrun.predict.tables import predict_table


def predict_images(run: PredictingRun, source: str) -> Predictions:
    saved = run.saved
    if "features" in saved and read.table_format(source) is not None and source != read.STDIN:
        return predict_table(run, source)  # digits, as the 64 pixel columns
    if read.table_format(source) is not None and source != read.STDIN:
        raise DlrunError(
            f"INPUT '{source}' is a table, and this run ({run.data_name}) was trained on images: give a PNG or "
            "JPEG file, a folder of them, or a glob pattern such as 'photos/*.jpg'."
        )
    sources = read.image_sources(source)
    assert run.spec is not None and run.model is not None
    if saved["data"] == "SklearnDataModule":
        inputs = digits_inputs(saved, sources)
    elif "shift" in saved:
        inputs = filtered_inputs(saved, sources)
    else:
        inputs = folder_inputs(saved, sources)
    inputs = inputs.reshape(len(sources), *run.spec.input_shape)
    prediction, probabilities = classes_or_values(run.spec, in_batches(run.model, inputs))
    return with_inputs(
        pd.DataFrame({"path": [s.name for s in sources]}), prediction, probabilities, run.spec.class_names
    )


def read_pixels(image_source: read.ImageSource, mode: str, size: tuple[int, int]) -> np.ndarray:
    """One image converted to `mode` and resized to (height, width) bilinearly, as float32 0..255
    C x H x W (what dlrun.data.image_folder.read_image does before dividing by 255)."""
    height, width = size
    try:
        with Image.open(image_source.open()) as image:
            image = image.convert(mode).resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.float32)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        where = "stdin" if image_source.name == read.STDIN else f"'{image_source.name}'"
        raise DlrunError(
            f"Could not read the image {where}: {' '.join(str(e).split())}. Give PNG or JPEG images "
            f"({', '.join(read.IMAGE_SUFFIXES)})."
        ) from None
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def folder_inputs(saved: dict, sources: list[read.ImageSource]) -> torch.Tensor:
    image = saved["image"]
    size = (int(image["size"][0]), int(image["size"][1]))
    pixels = torch.from_numpy(np.stack([read_pixels(s, image["mode"], size) for s in sources]))
    return _prepared(FolderPixels(saved, (pixels[0].numel(),)), pixels)


def filtered_inputs(saved: dict, sources: list[read.ImageSource]) -> torch.Tensor:
    image = saved["image"]
    size = (int(image["size"][0]), int(image["size"][1]))
    raw = torch.from_numpy(np.stack([read_pixels(s, image["mode"], size) for s in sources]))
    return _prepared(FilteredPixels(saved), raw)


def digits_inputs(saved: dict, sources: list[read.ImageSource]) -> torch.Tensor:
    shape = saved["image"]["shape"]
    pixels = np.stack([read_pixels(s, "L", (int(shape[1]), int(shape[2]))) for s in sources])
    return _prepared(DigitPixels(saved, (len(saved["features"]),)), torch.from_numpy(pixels))


def _prepared(module: torch.nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """The pixels through the module that `dlrun export` puts in the graph, CHUNK images at a time
    (the filters make several copies of what they are given)."""
    from dlrun.data.image_ops import CHUNK

    with torch.no_grad():
        return torch.cat([module(chunk) for chunk in pixels.split(CHUNK)])
