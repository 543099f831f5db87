"""Users' own recordings: one subfolder of WAV files per class, served as speech features.

The layout is image_folder's: PATH/<class name>/**/*.wav, class names the sorted folder names.
Files are read with scipy (PCM 8/16/24/32-bit or float, any rate, channels averaged) and resampled
to data.sample_rate; splits are stratified by class and seeded by split_seed (k-fold as for tables).
The splits are by file: recordings of one speaker can land in several splits, so put a held-out
speaker's files in a folder of their own if that matters.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlrun.data.audio.speech_module import LabelledClips, SpeechDataModule
from dlrun.data.audio.wav_files import WAV_SUFFIXES, read_wav
from dlrun.data.class_folders import find_class_files
from dlrun.data.splits import split_indices
from dlrun.errors import ConfigError, DlrunError


class AudioFolderDataModule(SpeechDataModule):
    """PATH/<class name>/**/*.wav as log-mel or MFCC features; see SpeechDataModule for the rest."""

    def __init__(
        self,
        path: str | None = None,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        split_seed: int = 0,
        folds: int | None = None,
        fold: int = 0,
        **options,
    ) -> None:
        super().__init__(**options)
        if path is None:
            raise ConfigError(
                "data.path is not set: point it at a folder with one subfolder of WAV files per class, e.g. "
                "`dlrun train data=audio_folder data.path=clips` with clips/yes/*.wav and clips/no/*.wav."
            )
        self.path = Path(str(path)).expanduser()
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = split_seed
        self.folds = folds
        self.fold = fold

    def clips(self) -> tuple[dict[str, LabelledClips], tuple[str, ...]]:
        classes, files, labels = find_recordings(self.path)
        waves = []
        for file in files:
            try:
                waves.append(read_wav(file, self.sample_rate))
            except DlrunError as e:
                raise ConfigError(f"{e} (under data.path; replace or remove the file)") from None
        empty = next((f for f, w in zip(files, waves) if len(w) == 0), None)
        if empty is not None:
            raise ConfigError(f"The WAV file '{empty}' under data.path holds no samples; remove it or record it again.")
        indices = split_indices(
            labels,
            self.val_fraction,
            self.test_fraction,
            seed=self.split_seed,
            stratify=True,
            folds=self.folds,
            fold=self.fold,
        )
        self.split_files = {split: [files[i] for i in rows] for split, rows in indices.items()}
        splits = {split: LabelledClips([waves[i] for i in rows], labels[rows]) for split, rows in indices.items()}
        return splits, tuple(classes)


def find_recordings(root: Path) -> tuple[list[str], list[Path], np.ndarray]:
    """Class names (sorted subfolder names), every WAV file under them, and each file's class index."""
    return find_class_files(
        root, WAV_SUFFIXES, "WAV files", ("yes/1.wav", "no/1.wav"), " (convert others with e.g. `sox in.mp3 out.wav`)"
    )
