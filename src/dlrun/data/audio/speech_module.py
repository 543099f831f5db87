"""What the spoken data sets share: clips in, features out, in the layout the model reads.

A subclass gives labelled clips per split (mono float32 at `sample_rate`); this turns them into
- `image` layout: (1, n_features, frames) pictures of a fixed `max_duration` (shorter clips end in
  silence, longer ones are cut), for the convolutional models and the MLP; or
- `frames` layout: (frames, n_features) sequences with `lengths` (each clip's own frames, up to
  `max_duration`), for the recurrent models, which pack them so padding never enters a state;
- `auto`: frames when the run's model is dlrun's recurrent network (model._target_, which the config
  hands over as `model_target`), image otherwise.
Leading and trailing silence quieter than `trim_db` below a clip's peak is cut first. Features (see
features.py) are scaled per feature (mel bin or coefficient) with the training split's mean and
standard deviation, and SpecAugment masks (`augment`) change training batches only.

`dlrun predict` repeats all of it on WAV files from preprocessing.json alone (predict/audio.py).
"""

from __future__ import annotations

import importlib
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch

from dlrun.checks import check_number
from dlrun.choices import check_config_choice
from dlrun.data.audio.features import FeatureScaler, FeatureSettings, SpecAugment, compute_features
from dlrun.data.audio.synthesis import trim_silence
from dlrun.data.in_memory import SPLITS, InMemoryDataModule
from dlrun.data.loader import Batch
from dlrun.data.spec import DataSpec
from dlrun.errors import ConfigError

Layout = Literal["auto", "image", "frames"]
SpeechScaling = Literal["standard"]
RECURRENT_MODEL = "dlrun.models.recurrent:RecurrentNet"


@dataclass
class LabelledClips:
    """One split: waveforms (mono float32 at the data's sample rate) and their class indices."""

    clips: list[np.ndarray]
    labels: np.ndarray


def resolve_layout(layout: Layout, model_target: str | None) -> str:
    """`image` or `frames`; `auto` asks whether the model's class is (a subclass of) RecurrentNet."""
    if layout != "auto":
        return layout
    if not model_target:
        return "image"
    module_name, _, class_name = str(model_target).rpartition(".")
    try:
        model_class = getattr(importlib.import_module(module_name), class_name)
        module, _, name = RECURRENT_MODEL.partition(":")
        recurrent = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return "image"  # the model's own build says what is wrong with its target
    return "frames" if isinstance(model_class, type) and issubclass(model_class, recurrent) else "image"


def prepare_clips(clips: list[np.ndarray], trim_db: float | None, max_samples: int) -> list[np.ndarray]:
    """Each clip with its quiet ends trimmed (`trim_db` below its peak; None keeps them), then cut to
    `max_samples`: what training and predict both do before features."""
    prepared = []
    for clip in clips:
        clip = trim_silence(clip, -float(trim_db)) if trim_db is not None else clip
        prepared.append(clip[:max_samples])
    return prepared


def clip_features(
    settings: FeatureSettings, clips: list[np.ndarray], layout: str, max_samples: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (clips, frames, n) and frame lengths; image layout pads every clip to max_samples."""
    return compute_features(settings, clips, pad_to=max_samples if layout == "image" else None)


def serve(features: torch.Tensor, frame_counts: torch.Tensor, layout: str) -> dict[str, torch.Tensor]:
    """The model's inputs from scaled features: (N, 1, n, frames) images, or (N, frames, n) + lengths."""
    if layout == "image":
        return {"inputs": features.transpose(1, 2)[:, None].contiguous()}
    return {"inputs": features, "lengths": frame_counts}


class SpeechDataModule(InMemoryDataModule):
    """Labelled clips from `clips()` served as features (see the module's docstring)."""

    def __init__(
        self,
        sample_rate: int = 16000,
        max_duration: float = 1.0,
        trim_db: float | None = 40.0,
        layout: Layout = "auto",
        model_target: str | None = None,
        features: Mapping[str, object] | None = None,
        scaling: SpeechScaling | None = "standard",
        augment: Mapping[str, int] | None = None,
        batch_size: int | None = 64,
        eval_batch_size: int | None = 1024,
        steps_per_execution: int = 32,
        bucket_pool_batches: int | None = None,
    ) -> None:
        super().__init__(batch_size, eval_batch_size, steps_per_execution, bucket_pool_batches)
        check_number("data.sample_rate", sample_rate, at_least=1000, whole=True, unit="Hz", meaning="e.g. 16000")
        check_number(
            "data.max_duration",
            max_duration,
            above=0,
            unit="seconds",
            meaning="clips are cut to it; image layout pads to it; e.g. 1.0",
        )
        check_number(
            "data.trim_db",
            trim_db,
            above=0,
            unit="dB",
            meaning="ends quieter than this below a clip's peak are cut, e.g. 40",
            null_means="to keep them",
        )
        check_config_choice("data.layout", layout, Layout)
        if scaling is not None and scaling not in get_args(SpeechScaling):
            raise ConfigError(
                f"data.scaling must be standard (each feature standardized with the training split's mean and "
                f"std) or null (the log-mel dB or MFCC values as they are); got {scaling!r}."
            )
        self.sample_rate = sample_rate
        self.max_duration = float(max_duration)
        self.max_samples = int(round(self.max_duration * sample_rate))
        self.trim_db = None if trim_db is None else float(trim_db)
        self.layout = resolve_layout(layout, model_target)
        self.features = FeatureSettings.from_options(dict(features or {}), sample_rate)
        self.scaling = scaling
        self.spec_augment = SpecAugment.from_options(dict(augment or {}))
        self.scaler: FeatureScaler | None = None

    @abstractmethod
    def clips(self) -> tuple[dict[str, LabelledClips], tuple[str, ...]]:
        """{'train'|'val'|'test': LabelledClips} at self.sample_rate, and the class names."""

    def load(self) -> tuple[dict[str, Batch], DataSpec]:
        splits, class_names = self.clips()
        computed = {
            split: clip_features(
                self.features,
                prepare_clips(splits[split].clips, self.trim_db, self.max_samples),
                self.layout,
                self.max_samples,
            )
            for split in SPLITS
        }
        if self.scaling == "standard":
            self.scaler = FeatureScaler.fit(*computed["train"])
        frames = max(features.shape[1] for features, _ in computed.values())
        served = {}
        for split, (features, counts) in computed.items():
            if self.scaler is not None:
                features = self.scaler(features, counts)
            features = torch.nn.functional.pad(features, (0, 0, 0, frames - features.shape[1]))
            served[split] = {
                **serve(features, counts, self.layout),
                "targets": torch.as_tensor(splits[split].labels, dtype=torch.int64),
            }
        self.augmentation = self.spec_augment if self.spec_augment.active else None
        spec = DataSpec(
            "binary" if len(class_names) == 2 else "multiclass",
            tuple(served["train"]["inputs"].shape[1:]),
            num_classes=len(class_names),
            class_names=tuple(class_names),
            max_length=frames if self.layout == "frames" else 0,
        )
        return served, spec

    def save_preprocessing(self, directory: Path) -> None:
        """Write preprocessing.json: how a WAV file becomes the model's input (sample rate, trimming,
        clip length, feature settings in their config units, layout), the per-feature scaler fitted
        on the training split, and the class names."""
        from dlrun.data.preprocessing_file import write_preprocessing

        spec = self.spec  # loads, so the scaler exists
        write_preprocessing(
            directory,
            "audio",
            type(self).__name__,
            spec,
            audio={
                "sample_rate": self.sample_rate,
                "trim_db": self.trim_db,
                "max_samples": self.max_samples,
                "layout": self.layout,
            },
            features=self.features.to_json(),
            scaler=None if self.scaler is None else self.scaler.to_json(),
            task=spec.task,
            class_names=list(spec.class_names),
        )
