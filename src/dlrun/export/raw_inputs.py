"""The module that ONNX and TorchScript export: the run's preprocessing, the trained network and the
read-out of its outputs, so a served model takes what `dlrun predict` takes after reading a file
(raw table values, pixels, series values) and answers as predict does.

The preprocessing and the read-out are predict's own modules (dlrun.predict.modules), built from the
run's saved preprocessing, not a copy of their arithmetic. Where a kind of data is prepared by
something that is no tensor op (tokenizing text, featurizing audio, or a data module dlrun does not
know), the graph takes the prepared inputs, as the network does, and the description says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from dlrun.models.calling import call_model
from dlrun.predict.modules import (
    FilteredPixels,
    FolderPixels,
    Readout,
    SeriesWindow,
    TableInputs,
)


@dataclass
class GraphInputs:
    """What the exported graph takes as `inputs`, and what it does with them before the network."""

    module: nn.Module  # raw inputs -> the network's inputs (nn.Identity where they come prepared)
    in_graph: bool  # whether the graph applies the run's preprocessing itself
    shape: list[Any]  # of `inputs`, with "batch" first
    dtype: str
    what: str  # what `inputs` holds, for the description
    steps: list[str]  # what the graph does to them, in order
    outside: str = ""  # what a client must do before the graph, when anything
    extra: dict[str, Any] = field(default_factory=dict)  # columns, categories, image reading
    invert: Callable[[Tensor], Tensor] = lambda prepared: prepared  # example raw inputs from prepared ones


class RawInputModel(nn.Module):
    """forward(inputs[, lengths]) -> outputs, or (outputs, probabilities | values): the network's own
    outputs, then what predict reports from them (dlrun.predict.modules.Readout)."""

    def __init__(self, preprocess: nn.Module, network: nn.Module, lengths: bool, readout: Readout | None) -> None:
        super().__init__()
        self.preprocess = preprocess
        self.network = network
        self.with_lengths = lengths
        self.readout = readout

    @property
    def output_names(self) -> list[str]:
        return ["outputs"] if self.readout is None else ["outputs", self.readout.name]

    def output_scales(self) -> list[float]:
        """What each output's difference from torch's is divided by before the tolerance: values are
        in the target's units, so their error is the standardized error times the target's std."""
        if self.readout is not None and self.readout.name == "values":
            return [1.0, max(abs(self.readout.target_std), 1e-12)]
        return [1.0] * len(self.output_names)

    def with_network(self, network: nn.Module) -> RawInputModel:
        """The same preprocessing and read-out around another form of the network (see unpacked_recurrent)."""
        return RawInputModel(self.preprocess, network, self.with_lengths, self.readout).eval()

    def forward(self, inputs: Tensor, lengths: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
        prepared = self.preprocess(inputs)
        outputs = call_model(self.network, {"inputs": prepared, "lengths": lengths}, self.with_lengths)
        if self.readout is None:
            return outputs
        return outputs, self.readout(outputs)


def graph_inputs(kind: str | None, saved: dict[str, Any], spec, signature: dict[str, Any]) -> GraphInputs:
    """The run's preprocessing as a module, by its kind of data (predict's kinds; None for data
    predict does not read)."""
    shape = [int(s) for s in spec.input_shape]
    if kind == "table" or (kind == "image" and "features" in saved and "shift" not in saved):
        return _table(kind, saved, spec)
    if kind == "image" and "shift" in saved:
        return _filtered(saved, shape)
    if kind == "image":
        return _folder(saved, shape)
    if kind == "series" and not signature["lengths"]:
        return _series(saved, shape)
    why = {
        "text": "texts are tokenized with the run's vocab.json (copied beside the model), cut to max_length and "
        "mapped to token ids, right-padded, with their lengths: string processing that is no tensor op",
        "audio": "WAV files are resampled, trimmed, turned into log-mel or MFCC features and scaled as "
        "preprocessing.json says: signal processing dlrun does outside the graph",
    }.get(
        str(kind),
        "the run's data module is not one whose preprocessing `dlrun predict` repeats, so dlrun cannot build it into the graph",
    )
    return GraphInputs(
        nn.Identity(),
        in_graph=False,
        shape=[],  # described by the network's own signature (description._prepared_inputs)
        dtype="",
        what="",
        steps=[],
        outside=f"Not in the graph: {why}. The graph takes the network's prepared inputs.",
    )


def _table(kind: str, saved: dict[str, Any], spec) -> GraphInputs:
    module = TableInputs(saved, spec.input_shape)
    categorical = [c for c in module.columns[module.numeric :]]
    steps = []
    if module.numeric:
        if module.fill:
            steps.append("a missing numeric value (NaN) is replaced by the training split's mean of its column")
        scaler = module.scaler.kind
        steps.append(
            {
                "standard": "numeric columns standardized: (x - mean) / scale, the training split's statistics",
                "minmax": "numeric columns scaled to the training range: x * scale + min",
                "none": "numeric columns passed as they are (data.scaling=null)",
            }[scaler]
        )
    if categorical:
        encoding = saved.get("categorical_encoding")
        steps.append(
            "each categorical column, given as its category's code (its position in `categories`), "
            + ("one-hot encoded" if encoding == "one_hot" else "passed as the code")
        )
    if tuple(spec.input_shape) != (len(module.columns),):
        steps.append(f"reshaped to {list(spec.input_shape)} per example")
    what = "raw feature values, one column per feature in `columns` order"
    if kind == "image":
        what += " (the data set's 64 pixel values 0..16, row by row; from an 8-bit image: value / 255 * 16)"
    extra: dict[str, Any] = {"columns": module.columns}
    if categorical:
        extra["categories"] = {c: list(saved["categories"][c]) for c in categorical}
    return GraphInputs(
        module,
        in_graph=True,
        shape=["batch", len(module.columns)],
        dtype="float64",
        what=what,
        steps=steps,
        outside=(
            "Outside the graph: reading the file, and turning a category into its code (a missing category "
            "filled with the most frequent training one, as dlrun predict does)."
            if categorical
            else "Outside the graph: only reading the values."
        ),
        extra=extra,
        invert=module.invert,
    )


def _folder(saved: dict[str, Any], shape: list[int]) -> GraphInputs:
    module = FolderPixels(saved, tuple(shape))
    image = saved["image"]
    return GraphInputs(
        module,
        in_graph=True,
        shape=["batch", *module.raw_shape],
        dtype="float32",
        what=f"pixels 0..255, channels x height x width, the image converted to Pillow mode {image['mode']}",
        steps=[
            f"divided by {image['pixel_scale']:g}",
            "standardized per pixel with the training split's statistics",
            f"reshaped to {shape} per example",
        ],
        outside=(
            f"Outside the graph: decoding the image, converting it to mode {image['mode']} and resizing it to "
            f"{image['size'][0]}x{image['size'][1]} (height x width, bilinear), as Pillow does in dlrun predict."
        ),
        extra={"image": dict(image)},
        invert=module.invert,
    )


def _filtered(saved: dict[str, Any], shape: list[int]) -> GraphInputs:
    module = FilteredPixels(saved)
    image = saved["image"]
    raw = (int(image["channels"]), int(image["size"][0]), int(image["size"][1]))
    filters = [name for name in ("grayscale", "resize", "median", "blur") if saved["filters"].get(name)]
    return GraphInputs(
        module,
        in_graph=True,
        shape=["batch", *raw],
        dtype="float32",
        what="raw pixels 0..255 (a light article on a black background, as the data set stores it)",
        steps=[
            *([f"the run's filters, in this order: {', '.join(filters)}"] if filters else []),
            "per-channel shift and scale of the training split",
        ],
        outside=f"Outside the graph: decoding the image as grayscale at {raw[1]}x{raw[2]} (bilinear).",
        extra={"image": dict(image), "filters": dict(saved["filters"])},
        invert=lambda prepared: module.invert(prepared, (raw[1], raw[2])),
    )


def _series(saved: dict[str, Any], shape: list[int]) -> GraphInputs:
    module = SeriesWindow(saved)
    return GraphInputs(
        module,
        in_graph=True,
        shape=["batch", *shape],
        dtype="float64",
        what=f"windows of the last {shape[0]} steps, one column per series column in `columns` order, in the series' units",
        steps=["standardized per column with the training part's mean and standard deviation"],
        outside=(
            "Outside the graph: sorting by time, dropping rows missing values at the ends and interpolating gaps "
            "inside, and taking the last lookback rows, as dlrun predict does."
        ),
        extra={"columns": module.columns},
        invert=module.invert,
    )


def raw_model(graph: GraphInputs, model: nn.Module, spec, signature: dict[str, Any]) -> RawInputModel:
    return RawInputModel(graph.module, model, signature["lengths"], Readout.of(spec)).eval()


def raw_batches(graph: GraphInputs, batches: list[tuple]) -> list[tuple]:
    """Prepared batches (inputs first) as the raw inputs the graph takes."""
    with torch.no_grad():
        return [(graph.invert(batch[0]), *batch[1:]) for batch in batches]
