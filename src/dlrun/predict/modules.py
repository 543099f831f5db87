"""The run's preprocessing of raw inputs, and the reading of the network's outputs, as torch modules.

`dlrun predict` reads INPUT (parses a CSV, decodes an image, checks every value) and then hands the
raw numbers to these modules; `dlrun export` puts the very same modules into the exported graph
(dlrun.export.raw_inputs), so a served model given the raw numbers answers as predict does. Each is
built from the run's saved preprocessing (preprocessing.json, series.json) and keeps its statistics
as buffers. The arithmetic is predict's own, in the dtypes predict always used (table and series
values in float64, image pixels in float32), so predict's numbers did not change when it moved here.

What cannot be a tensor op stays in the readers: parsing, category names to codes, filling a missing
category, Pillow's decoding and resizing, tokenizing text, featurizing audio.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

# Batch sizes are read as x.shape[0], never len(x): len() is a Python int, which would freeze an
# exported graph's dynamic batch axis at the example's size.


def _buffer(values: Any) -> Tensor:
    return torch.as_tensor(values, dtype=torch.float64)


class Scaler(nn.Module):
    """A saved scikit-learn scaler's transform() (see dlrun.data.preprocessing_file): in the values'
    own float dtype, the float64 statistics cast to it first, as scikit-learn does."""

    shift: Tensor
    scale: Tensor

    def __init__(self, scaler: dict[str, Any] | None) -> None:
        super().__init__()
        self.kind = "none" if scaler is None else str(scaler["kind"])
        if self.kind not in ("none", "standard", "minmax"):
            from dlrun.errors import DlrunError

            raise DlrunError(f"preprocessing.json names a scaler of kind '{self.kind}', which dlrun does not know.")
        if self.kind == "standard":
            assert scaler is not None
            self.register_buffer("shift", _buffer(scaler["mean"]))
            self.register_buffer("scale", _buffer(scaler["scale"]))
        elif self.kind == "minmax":
            assert scaler is not None
            self.register_buffer("shift", _buffer(scaler["min"]))
            self.register_buffer("scale", _buffer(scaler["scale"]))

    def forward(self, values: Tensor) -> Tensor:
        if self.kind == "standard":
            return (values - self.shift.to(values.dtype)) / self.scale.to(values.dtype)
        if self.kind == "minmax":
            return values * self.scale.to(values.dtype) + self.shift.to(values.dtype)
        return values

    def invert(self, values: Tensor) -> Tensor:
        if self.kind == "standard":
            return values * self.scale.to(values.dtype) + self.shift.to(values.dtype)
        if self.kind == "minmax":
            return (values - self.shift.to(values.dtype)) / self.scale.to(values.dtype)
        return values


class TableInputs(nn.Module):
    """Raw table rows (N, features) float64, the columns in `columns` order -> the network's inputs.

    data=csv: the numeric columns (NaN is a missing value, filled with the training mean under
    data.missing=mean), scaled; then each categorical column given as its category's code (its
    position in preprocessing.json's `categories`), one-hot encoded or kept as the code. The
    scikit-learn sets: every feature, scaled."""

    means: Tensor

    def __init__(self, saved: dict[str, Any], input_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        if "numeric" in saved:
            numeric, categorical = list(saved["numeric"]), list(saved["categorical"])
        else:
            numeric, categorical = list(saved["features"]), []
        self.columns = numeric + categorical
        self.numeric = len(numeric)
        self.fill = saved.get("missing") == "mean" and bool(numeric)
        means = [saved.get("numeric_means", {}).get(c) for c in numeric]
        self.register_buffer("means", _buffer([float("nan") if m is None else m for m in means]))
        self.scaler = Scaler(saved.get("scaler") if numeric else None)
        one_hot = saved.get("categorical_encoding") == "one_hot"
        # Per categorical column: how many categories it one-hot encodes into (0: kept as the code).
        self.widths = [len(saved["categories"][c]) if one_hot else 0 for c in categorical]

    def forward(self, raw: Tensor) -> Tensor:
        raw = raw.to(torch.float64)
        blocks = []
        if self.numeric:
            values = raw[:, : self.numeric]
            if self.fill:
                values = torch.where(torch.isnan(values), self.means, values)
            blocks.append(self.scaler(values))
        for j, width in enumerate(self.widths):
            codes = raw[:, self.numeric + j : self.numeric + j + 1]
            if width:  # one row of the identity matrix per code, as np.eye(width)[codes]
                blocks.append((codes == torch.arange(width, dtype=torch.float64)).to(torch.float64))
            else:
                blocks.append(codes)
        encoded = torch.cat(blocks, dim=1) if len(blocks) > 1 else blocks[0]
        return encoded.to(torch.float32).reshape(-1, *self.input_shape)

    def invert(self, inputs: Tensor) -> Tensor:
        """Raw rows that give `inputs` (up to rounding): example rows for checking an export."""
        flat = inputs.reshape(len(inputs), -1).to(torch.float64)
        blocks = [self.scaler.invert(flat[:, : self.numeric])]
        at = self.numeric
        for width in self.widths:
            if width:
                blocks.append(flat[:, at : at + width].argmax(dim=1, keepdim=True).to(torch.float64))
            else:
                blocks.append(flat[:, at : at + 1])
            at += max(width, 1)
        return torch.cat(blocks, dim=1)


class DigitPixels(nn.Module):
    """The digits set from an image: (N, 64) grayscale pixels 0..255 float64 -> the data set's 0..16, scaled."""

    def __init__(self, saved: dict[str, Any], input_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        self.pixel_max = float(saved["image"]["pixel_max"])
        self.scaler = Scaler(saved.get("scaler"))

    def forward(self, pixels: Tensor) -> Tensor:
        values = pixels.to(torch.float64).reshape(pixels.shape[0], -1) / 255.0 * self.pixel_max
        return self.scaler(values).to(torch.float32).reshape(-1, *self.input_shape)


class FolderPixels(nn.Module):
    """data=image_folder: (N, C, H, W) pixels 0..255 float32, read at the run's size and mode ->
    0..1 (divided as training's read_image divides), then the per-pixel scaler."""

    def __init__(self, saved: dict[str, Any], input_shape: tuple[int, ...]) -> None:
        super().__init__()
        image = saved["image"]
        self.raw_shape = (int(image["channels"]), int(image["size"][0]), int(image["size"][1]))
        self.input_shape = tuple(int(s) for s in input_shape)
        self.pixel_scale = float(image["pixel_scale"])
        self.scaler = Scaler(saved.get("scaler"))

    def forward(self, pixels: Tensor) -> Tensor:
        values = pixels.to(torch.float32) / self.pixel_scale
        return self.scaler(values.reshape(values.shape[0], -1)).reshape(-1, *self.input_shape)

    def invert(self, inputs: Tensor) -> Tensor:
        values = self.scaler.invert(inputs.reshape(len(inputs), -1).to(torch.float32)) * self.pixel_scale
        return values.reshape(-1, *self.raw_shape)


class FilteredPixels(nn.Module):
    """fashion_mnist(_small): (N, 1, H, W) raw pixels 0..255 float32 at the data set's size -> the
    run's filters (grayscale, resize, median, blur: dlrun.data.image_ops, the same ops) and the
    training split's per-channel shift and scale."""

    shift: Tensor
    scale: Tensor

    def __init__(self, saved: dict[str, Any]) -> None:
        super().__init__()
        from dlrun.data.image_ops import ImagePreprocessing

        filters = saved["filters"]
        self.filters = ImagePreprocessing(
            filters["scaling"], filters["grayscale"], filters["resize"], filters["blur"], filters["median"]
        )
        self.register_buffer("shift", torch.tensor(saved["shift"], dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("scale", torch.tensor(saved["scale"], dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, pixels: Tensor) -> Tensor:
        f = self.filters
        images = pixels.to(torch.float32)
        if f.grayscale or f.resize or f.blur or f.median:
            # One chunk: the reader already feeds batches; filter() only adds the chunking.
            images = f._filter_chunk(images)
        return (images - self.shift) / self.scale

    def invert(self, inputs: Tensor, raw_size: tuple[int, int]) -> Tensor:
        """Raw-sized images that look like `inputs`: for checking an export (the filters have no inverse)."""
        images = inputs.to(torch.float32) * self.scale + self.shift
        if tuple(images.shape[2:]) != raw_size:
            images = nn.functional.interpolate(images, size=raw_size, mode="bilinear", align_corners=False)
        return images


class SeriesWindow(nn.Module):
    """Time series: windows (N, lookback, columns) float64 in the series' units, the columns in
    series.json's order -> standardized with the training part's means and standard deviations."""

    mean: Tensor
    std: Tensor

    def __init__(self, saved: dict[str, Any]) -> None:
        super().__init__()
        self.columns = [str(c) for c in saved["columns"]]
        scaler = saved["scaler"]
        self.register_buffer("mean", _buffer([scaler["mean"][c] for c in self.columns]))
        self.register_buffer("std", _buffer([scaler["std"][c] for c in self.columns]))

    def forward(self, window: Tensor) -> Tensor:
        return ((window.to(torch.float64) - self.mean) / self.std).to(torch.float32)

    def invert(self, inputs: Tensor) -> Tensor:
        return inputs.to(torch.float64) * self.std + self.mean


class Readout(nn.Module):
    """The network's outputs as predict reports them, in float64: class probabilities (softmax over
    the logits; for a binary task [1 - p, p] with p the sigmoid of the one logit), or values in the
    target's units (regression: one per example; forecasting: the `horizon` next steps)."""

    KINDS = {"multiclass": "probabilities", "binary": "probabilities", "regression": "values", "forecasting": "values"}

    def __init__(self, task: str, target_mean: float = 0.0, target_std: float = 1.0, horizon: int = 0) -> None:
        super().__init__()
        if task not in self.KINDS:
            raise ValueError(f"no read-out for a {task} task")
        self.task = task
        self.target_mean = float(target_mean)
        self.target_std = float(target_std)
        self.horizon = int(horizon)

    @classmethod
    def of(cls, spec) -> Readout | None:
        """The read-out of the run's DataSpec, or None where predict decodes outputs otherwise (CTC)."""
        if spec.task not in cls.KINDS:
            return None
        return cls(spec.task, spec.target_mean, spec.target_std, spec.horizon)

    @property
    def name(self) -> str:
        return self.KINDS[self.task]

    def forward(self, outputs: Tensor) -> Tensor:
        outputs = outputs.to(torch.float64)
        if self.task == "binary":
            p = outputs.reshape(outputs.shape[0], -1)[:, 0].sigmoid()
            return torch.stack([1 - p, p], dim=1)
        if self.task == "multiclass":
            return outputs.softmax(dim=-1)
        if self.task == "regression":
            return outputs.reshape(outputs.shape[0], -1)[:, 0] * self.target_std + self.target_mean
        return outputs.reshape(outputs.shape[0], -1)[:, : self.horizon] * self.target_std + self.target_mean
