"""preprocessing.json: what a table or image run did to its inputs, so `dlrun predict` repeats it.

Tables (data=csv and the scikit-learn sets) and images (data=image_folder, fashion_mnist,
fashion_mnist_small) write it into the run dir before training; text runs keep vocab.json, series
runs series.json and sequence-to-sequence runs seq2seq_vocab.json instead. Every statistic in it
was fitted on the training split, and the data's description (`spec`, the DataSpec fields) is kept
too, so the network can be rebuilt without reading the training data again.

Scalers are stored with scikit-learn's own attributes and applied with its formulas: `standard`
is (x - mean) / scale, `minmax` is x * scale + min; floats survive the JSON round trip exactly.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from dlrun.errors import DlrunError

PREPROCESSING_FILE = "preprocessing.json"
PREPROCESSING_FORMAT = "dlrun.preprocessing"
PREPROCESSING_VERSION = 1


def scaler_to_json(scaler: Any) -> dict[str, Any] | None:
    """A fitted StandardScaler or MinMaxScaler as plain lists; None (no scaling) stays None."""
    if scaler is None:
        return None
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    if isinstance(scaler, StandardScaler):
        mean = scaler.mean_ if scaler.with_mean else np.zeros(scaler.n_features_in_)
        scale = scaler.scale_ if scaler.with_std else np.ones(scaler.n_features_in_)
        return {"kind": "standard", "mean": _floats(mean), "scale": _floats(scale)}
    if isinstance(scaler, MinMaxScaler):
        return {"kind": "minmax", "min": _floats(scaler.min_), "scale": _floats(scaler.scale_)}
    raise TypeError(f"cannot save a {type(scaler).__name__} in {PREPROCESSING_FILE}")


def apply_scaler(scaler: dict[str, Any] | None, values: np.ndarray) -> np.ndarray:
    """`values` (rows, features) transformed as the saved scaler's transform() did: in the values'
    own float dtype (float32 pixels stay float32), the statistics cast to it first, as scikit-learn does."""
    values = np.array(values, copy=True)
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float64)
    if scaler is None:
        return values
    if scaler["kind"] == "standard":
        values -= np.asarray(scaler["mean"], dtype=np.float64).astype(values.dtype)
        values /= np.asarray(scaler["scale"], dtype=np.float64).astype(values.dtype)
    elif scaler["kind"] == "minmax":
        values *= np.asarray(scaler["scale"], dtype=np.float64).astype(values.dtype)
        values += np.asarray(scaler["min"], dtype=np.float64).astype(values.dtype)
    else:
        raise DlrunError(f"{PREPROCESSING_FILE} names a scaler of kind '{scaler['kind']}', which dlrun does not know.")
    return values


def spec_to_json(spec: Any) -> dict[str, Any]:
    """The DataSpec (or TableSpec) fields, with the name of its class."""
    fields = {f.name: _plain(getattr(spec, f.name)) for f in dataclasses.fields(spec)}
    return {"class": type(spec).__name__, **fields}


def write_preprocessing(directory: Path, kind: str, data: str, spec: Any, **content: Any) -> Path:
    """Write preprocessing.json into `directory`: `kind` (table | image), the data module's class
    (`data`), the spec and whatever the kind needs to repeat its preprocessing."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    description = {
        "format": PREPROCESSING_FORMAT,
        "version": PREPROCESSING_VERSION,
        "kind": kind,
        "data": data,
        **{key: _plain(value) for key, value in content.items()},
        "spec": spec_to_json(spec),
    }
    path = directory / PREPROCESSING_FILE
    path.write_text(json.dumps(description, indent=1, ensure_ascii=False, default=str) + "\n")
    return path


def read_preprocessing(run_dir: Path) -> dict[str, Any]:
    """The run's preprocessing.json, or a DlrunError that says what is wrong with it."""
    path = Path(run_dir) / PREPROCESSING_FILE
    if not path.is_file():
        raise DlrunError(
            f"'{run_dir}' has no {PREPROCESSING_FILE}: it was trained before dlrun saved the preprocessing of "
            f"tables and images with each run, so its scaling cannot be repeated on new data. Train it again "
            f"with this version of dlrun (the same command), then predict with the new run dir."
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DlrunError(f"Could not read '{path}': {' '.join(str(e).split())}.") from None
    if not isinstance(data, dict) or data.get("format") != PREPROCESSING_FORMAT:
        raise DlrunError(f'\'{path}\' is not a dlrun preprocessing file (no "format": "{PREPROCESSING_FORMAT}" in it).')
    if data.get("version") != PREPROCESSING_VERSION:
        raise DlrunError(
            f"'{path}' is version {data.get('version')} of dlrun's preprocessing file; this dlrun reads version "
            f"{PREPROCESSING_VERSION}. Predict with the dlrun that trained the run."
        )
    return data


def _floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def _plain(value: Any) -> Any:
    """JSON-ready: tuples to lists, numpy scalars and arrays to Python numbers and lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def pillow_reader(mode: str, channels: int, size: list[int], pixel_scale: float) -> dict:
    """How predict reads an image file as training did: Pillow mode, size, bilinear resampling,
    and the divisor from 0..255 to the values the data served."""
    return {
        "reader": "pillow",
        "mode": mode,
        "channels": channels,
        "size": list(size),
        "resample": "bilinear",
        "pixel_scale": pixel_scale,
    }
