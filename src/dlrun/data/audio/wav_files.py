"""Reading WAV files (PCM 8/16/24/32-bit or float), as users record them, into mono float32 in [-1, 1]."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from dlrun.data.audio.synthesis import resample
from dlrun.errors import DlrunError

WAV_SUFFIXES = (".wav",)


def read_wav(path: Path | str, sample_rate: int) -> np.ndarray:
    """The file's samples, channels averaged to mono, scaled to [-1, 1] and resampled to `sample_rate` Hz
    (polyphase, as synthesis.resample). A file scipy cannot read is a DlrunError naming it."""
    from scipy.io import wavfile

    try:
        with warnings.catch_warnings():
            # Files with extra chunks (LIST, cue) read fine; scipy warns about every one.
            warnings.simplefilter("ignore", wavfile.WavFileWarning)
            rate, samples = wavfile.read(str(path))
    except (ValueError, OSError, EOFError) as e:
        raise DlrunError(
            f"Could not read '{path}' as a WAV file: {' '.join(str(e).split())}. Give PCM or float WAV files "
            f"(convert others with e.g. `sox in.mp3 out.wav` or `ffmpeg -i in.m4a out.wav`)."
        ) from None
    return resample(to_unit_float(samples), int(rate), sample_rate)


def to_unit_float(samples: np.ndarray) -> np.ndarray:
    """Integer PCM (uint8 is offset by 128) or float samples as float32 in [-1, 1], mono."""
    if samples.dtype == np.uint8:
        values = (samples.astype(np.float32) - 128.0) / 128.0
    elif np.issubdtype(samples.dtype, np.integer):
        values = samples.astype(np.float32) / float(-np.iinfo(samples.dtype).min)
    else:
        values = samples.astype(np.float32)
    return values.mean(axis=1) if values.ndim == 2 else values
