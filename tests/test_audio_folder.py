"""data=audio_folder: users' WAV files, one subfolder per class, read in any common format."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import build_from_overrides
from scipy.io import wavfile

from dlrun.data import AudioFolderDataModule
from dlrun.data.audio.wav_files import read_wav, to_unit_float
from dlrun.data.splits import split_indices
from dlrun.errors import ConfigError

WORDS = ("maybe", "no", "yes")


def tone(frequency: float, seconds: float, rate: int, seed: int) -> np.ndarray:
    """A tone per class with noise, so the classes differ and the clips within one do too."""
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(seed).standard_normal(len(t))
    return (0.4 * np.sin(2 * np.pi * frequency * t) + 0.02 * noise).astype(np.float32)


@pytest.fixture
def folder(tmp_path) -> Path:
    """maybe/ no/ yes/, 6 clips each in assorted WAV formats, plus files that are not data."""
    root = tmp_path / "clips"
    for label, word in enumerate(WORDS):
        (root / word / "more").mkdir(parents=True)
        for i in range(6):
            clip = tone(300 + 400 * label, 0.3 + 0.05 * i, 16000, seed=10 * label + i)
            where = root / word / ("more" if i % 2 else "") / f"{i}.wav"
            if i % 3 == 0:
                wavfile.write(where, 16000, np.round(clip * 32767).astype(np.int16))
            elif i % 3 == 1:  # 44.1 kHz stereo float
                resampled = tone(300 + 400 * label, 0.3 + 0.05 * i, 44100, seed=10 * label + i)
                wavfile.write(where, 44100, np.stack([resampled, resampled], axis=1))
            else:  # 8-bit unsigned at 22,050 Hz
                resampled = tone(300 + 400 * label, 0.3 + 0.05 * i, 22050, seed=10 * label + i)
                wavfile.write(where, 22050, np.round(resampled * 127 + 128).astype(np.uint8))
        (root / word / "notes.txt").write_text("not audio")
        (root / word / "._0.wav").write_bytes(b"macOS metadata")
    (root / ".hidden").mkdir()
    return root


def test_classes_files_and_stratified_splits(folder):
    data = AudioFolderDataModule(path=str(folder), val_fraction=1 / 6, test_fraction=1 / 3, split_seed=3)
    data.setup()
    assert data.spec.class_names == WORDS and data.spec.task == "multiclass"
    labels = np.repeat(np.arange(3), 6)
    expected = split_indices(labels, 1 / 6, 1 / 3, seed=3, stratify=True)
    for split in ("train", "val", "test"):
        assert data.split(split)["targets"].tolist() == labels[expected[split]].tolist()
    assert [len(data.split_files[s]) for s in ("train", "val", "test")] == [9, 3, 6]
    assert all(f.name != "._0.wav" for files in data.split_files.values() for f in files)
    assert data.spec.input_shape == (1, 40, 101)
    frames = AudioFolderDataModule(path=str(folder), layout="frames", trim_db=None)
    lengths = torch.cat([frames.split(s)["lengths"] for s in ("train", "val", "test")])
    assert sorted(set(lengths.tolist())) == [1 + int((0.3 + 0.05 * i) * 16000) // 160 for i in range(6)]
    # Another split seed, other files in test; folds pick the validation files.
    other = AudioFolderDataModule(path=str(folder), val_fraction=1 / 6, test_fraction=1 / 3, split_seed=4)
    other.setup()
    assert other.split_files["test"] != data.split_files["test"]
    fold = AudioFolderDataModule(path=str(folder), folds=3, fold=1)
    fold.setup()
    assert len(fold.split_files["val"]) == (18 - len(fold.split_files["test"])) // 3


def test_wav_formats_read_to_the_same_signal(tmp_path):
    clip = tone(440, 0.5, 16000, seed=0)
    assert to_unit_float(np.array([0, 128, 255], np.uint8)).tolist() == [-1.0, 0.0, 127 / 128]
    assert to_unit_float(np.array([-32768, 16384], np.int16)).tolist() == [-1.0, 0.5]
    assert to_unit_float(np.array([[0.5, -0.5], [1.0, 0.0]], np.float32)).tolist() == [0.0, 0.5]
    wavfile.write(tmp_path / "a.wav", 16000, np.round(clip * 32768).astype(np.int16))
    np.testing.assert_allclose(read_wav(tmp_path / "a.wav", 16000), clip, atol=1 / 32768)
    wavfile.write(tmp_path / "b.wav", 48000, np.stack([tone(440, 0.5, 48000, 0)] * 2, axis=1))
    b = read_wav(tmp_path / "b.wav", 16000)
    assert len(b) == 8000 and abs(np.abs(b[1000:-1000]).max() - 0.4) < 0.08


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda root: None, "data.path is not set"),
        (lambda root: root / "absent", "does not exist"),
        (lambda root: next(root.rglob("*.txt")), "is a file"),
        (lambda root: [shutil.rmtree(root / w) for w in WORDS[1:]] and root, "needs one subfolder per class"),
        (lambda root: (root / "empty").mkdir() or root, "holds no WAV files"),
        (lambda root: (root / "yes" / "bad.wav").write_bytes(b"RIFF....WAVEjunk") and root, "Could not read"),
    ],
)
def test_folder_errors_say_what_to_fix(folder, change, message):
    path = change(folder)
    with pytest.raises(ConfigError, match=message):
        AudioFolderDataModule(path=None if path is None else str(path)).setup()


def test_a_recurrent_model_trains_on_the_frames(tmp_path, folder):
    run = build_from_overrides(
        tmp_path,
        "data=audio_folder",
        f"data.path={folder}",
        "model=gru",
        "model.hidden_size=8",
        "data.features.kind=mfcc",
        "callbacks=none",
    )
    assert run.datamodule.layout == "frames"
    assert run.datamodule.spec.input_shape[1] == 13 and run.datamodule.spec.is_sequence
    run.trainer.fit(run.task, datamodule=run.datamodule)
    assert "test/acc" in run.trainer.test(run.task, datamodule=run.datamodule, verbose=False)[0]
