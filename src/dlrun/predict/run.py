"""A finished run opened for prediction: its config, its kind of data, its spec and its network."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from dlrun.data.spec import DataSpec
from dlrun.errors import ConfigError, DlrunError
from dlrun.models.calling import call_model
from dlrun.run_dir.rebuilding import TrainedRun, open_trained

# Examples per forward pass.
BATCH = 1024


@dataclass
class PredictingRun:
    """What a reader needs: `saved` is the run's preprocessing file (preprocessing.json, vocab.json
    or series.json) as a dict; `model` is None for seq2seq runs, which translate decodes."""

    trained: TrainedRun
    cfg: DictConfig
    data_class: type
    kind: str
    spec: DataSpec | None = None
    saved: dict[str, Any] = field(default_factory=dict)
    model: torch.nn.Module | None = None

    @property
    def run_dir(self) -> Path:
        return self.trained.path

    @property
    def data_name(self) -> str:
        """How messages name the run's data: "data=csv (TableDataModule)", say."""
        return self.data_class.__name__


def open_for_prediction(run_dir: Path, trust_config: bool = False) -> PredictingRun:
    """The run at `run_dir`, with its network (best weights, else last; eval mode, CPU) built from
    the description of the data that its preprocessing file keeps, not from the training data."""
    trained = open_trained(run_dir, "best", trust_config, fall_back_to_last=True)
    cfg = trained.config()
    data_class = _data_class(cfg)
    kind, saved = _kind_and_saved(trained.path, data_class)
    run = PredictingRun(trained, cfg, data_class, kind, saved=saved)
    if kind == "seq2seq":
        return run
    run.spec = _spec_of(kind, saved, cfg)
    run.model = trained.model(run.spec, cfg)
    return run


def saved_preprocessing(run_dir: Path, cfg: DictConfig) -> tuple[str, dict[str, Any]]:
    """The run's kind of data (table, image, audio, text, series, seq2seq) and its saved
    preprocessing, as predict reads them: what `dlrun export` builds into the graph."""
    return _kind_and_saved(run_dir, _data_class(cfg))


def _data_class(cfg: DictConfig) -> type:
    from hydra.utils import get_object

    data = cfg.get("data")
    target = data.get("_target_") if isinstance(data, DictConfig) else None
    if not target:
        raise ConfigError("The run's .hydra/config.yaml has no data._target_: it was not made by `dlrun train`.")
    try:
        return get_object(str(target))
    except Exception as e:  # the class was renamed or lives in a package this Python lacks
        raise ConfigError(f"Could not find the run's data module {target}: {' '.join(str(e).split())}.") from None


def _kind_and_saved(run_dir: Path, data_class: type) -> tuple[str, dict[str, Any]]:
    from dlrun.data.audio.speech_module import SpeechDataModule
    from dlrun.data.fashion_mnist import FashionMNISTSmallDataModule
    from dlrun.data.image_folder import ImageFolderDataModule
    from dlrun.data.preprocessing_file import read_preprocessing
    from dlrun.data.seq2seq.module import Seq2SeqDataModule
    from dlrun.data.series.module import SeriesDataModule
    from dlrun.data.sklearn_tables import SklearnDataModule
    from dlrun.data.table import TableDataModule
    from dlrun.data.text import TextDataModule
    from dlrun.data.text_vocabulary import VOCABULARY_FILE

    if issubclass(data_class, Seq2SeqDataModule) or callable(getattr(data_class, "tokenize_source", None)):
        return "seq2seq", {}
    if issubclass(data_class, TextDataModule):
        return "text", _read_json(run_dir, VOCABULARY_FILE, "a text run")
    if issubclass(data_class, SeriesDataModule):
        return "series", _read_json(run_dir, "series.json", "a time-series run")
    if issubclass(
        data_class,
        TableDataModule | SklearnDataModule | ImageFolderDataModule | FashionMNISTSmallDataModule | SpeechDataModule,
    ):
        saved = read_preprocessing(run_dir)
        if saved.get("kind") not in ("table", "image", "audio"):
            raise DlrunError(
                f"'{run_dir}/preprocessing.json' names the kind '{saved.get('kind')}'; dlrun knows table, image and audio."
            )
        return str(saved["kind"]), saved
    raise DlrunError(
        f"'{run_dir}' trained on {data_class.__module__}.{data_class.__name__}, and dlrun predict reads new data "
        "only for dlrun's own kinds of data: tables (data=csv and the scikit-learn sets), images (image_folder, "
        "digits, fashion_mnist), speech (spoken_digits, audio_folder), text (text_csv, rotten_tomatoes), series "
        "(series_csv, co2, sunspots) and "
        "sequence-to-sequence runs."
    )


def _read_json(run_dir: Path, name: str, what: str) -> dict[str, Any]:
    path = run_dir / name
    if not path.is_file():
        raise DlrunError(
            f"'{run_dir}' is {what} but has no {name}, which every such run writes before training: the run did "
            "not get that far, or the file was removed. Train it again, then predict with the new run dir."
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DlrunError(f"Could not read '{path}': {' '.join(str(e).split())}.") from None


def _spec_of(kind: str, saved: dict[str, Any], cfg: DictConfig) -> DataSpec:
    """The data's description as training had it, from the saved preprocessing alone."""
    if kind in ("table", "image", "audio"):
        from dlrun.data.table import TableSpec

        fields = dict(saved["spec"])
        spec_class = TableSpec if fields.pop("class", "DataSpec") == "TableSpec" else DataSpec
        # JSON gives lists where the spec holds tuples; the values are whatever the saved file holds.
        arguments: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
        return spec_class(**arguments)
    if kind == "text":
        class_names = tuple(saved["class_names"])
        return DataSpec(
            "binary" if len(class_names) == 2 else "multiclass",
            (int(saved["max_length"]),),
            num_classes=len(class_names),
            class_names=class_names,
            vocab_size=len(saved["tokens"]),
            pad_id=int(saved["pad_id"]),
            max_length=int(saved["max_length"]),
        )
    if kind == "series":
        target = saved["target"]
        return DataSpec(
            "forecasting",
            (int(saved["lookback"]), len(saved["columns"])),
            target_mean=float(saved["scaler"]["mean"][target]),
            target_std=float(saved["scaler"]["std"][target]),
            horizon=int(saved["horizon"]),
            naive_scale=float(saved["naive_scale"]),
            max_length=int(saved["lookback"]),
        )
    raise ValueError(f"no spec for kind {kind}")


def network_outputs(model: torch.nn.Module, inputs: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """The model's outputs, as the task calls it."""
    with torch.no_grad():
        return call_model(model, {"inputs": inputs, "lengths": lengths})


def in_batches(model: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Outputs for inputs of one shape, BATCH examples at a time."""
    if len(inputs) == 0:
        return torch.zeros(0)
    return torch.cat([network_outputs(model, chunk) for chunk in inputs.split(BATCH)])


def classes_or_values(spec: DataSpec, outputs: torch.Tensor) -> tuple[list[object], np.ndarray | None]:
    """Per example the prediction (the class name, or the value in the target's units) and, for
    classes, the probabilities (N, classes): softmax over the logits, or the sigmoid of the one logit
    of a binary task (the second class's probability)."""
    from dlrun.predict.modules import Readout

    readout = Readout.of(spec)
    if readout is None or spec.task == "forecasting":
        raise DlrunError(f"dlrun predict does not know how to read the outputs of a {spec.task} task.")
    with torch.no_grad():  # the module that `dlrun export` puts at the end of the graph
        read = readout(outputs)
    if spec.task == "regression":
        return read.tolist(), None
    probabilities = read.numpy()
    if spec.task == "binary":
        chosen = (probabilities[:, 1] > 0.5).astype(np.int64)  # the 0.5 threshold of the task's binary metrics
    else:
        chosen = probabilities.argmax(axis=1)
    return [spec.class_names[i] for i in chosen], probabilities
