"""Log-mel spectrograms and MFCCs in torch, batched over padded waveforms, with the per-feature scaler.

torchaudio cannot be used next to the CPU torch build (its PyPI wheel is a CUDA build), so the
features are written here from `torch.stft`, and they reproduce librosa's (checked in
tests/test_audio_features.py):

    power  = |STFT|^2        Hann window (periodic) of `win_length` samples centred in `n_fft`,
                             `center=True` with zero padding (librosa's pad_mode="constant")
    mel    = HTK-mel filterbank (triangles, no area normalization) @ power
    log    = 10 log10(max(mel, 1e-10)), floored at (its maximum - top_db)    librosa.power_to_db
    mfcc   = DCT-II (orthonormal) of log over the mel bins, first n_mfcc     librosa.feature.mfcc

Sizes here are in samples; `FeatureSettings` takes the window and hop in milliseconds, as configs do.
An utterance of `length` samples has 1 + length // hop_length frames; padding after it never changes
its frames (it only adds frames past its own), so a padded batch gives each utterance the features
it has alone. The top_db floor is taken per utterance over its own frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor, nn

from dlrun.checks import check_number, is_number
from dlrun.errors import ConfigError, check_known_options

FEATURE_KINDS = ("log_mel", "mfcc")
AMIN = 1e-10  # librosa's floor under the power before the log


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK's mel scale: 2595 log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0, f_max: float | None = None) -> Tensor:
    """(n_mels, n_fft // 2 + 1) triangles on the HTK mel scale, peak 1, no normalization (as
    librosa.filters.mel(htk=True, norm=None)): band i rises from mel point i to i + 1 and falls to i + 2,
    of n_mels + 2 points spaced evenly in mel from f_min to f_max (default sample_rate / 2)."""
    f_max = sample_rate / 2.0 if f_max is None else float(f_max)
    bin_hz = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    points_hz = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    widths = np.diff(points_hz)
    ramps = points_hz[:, None] - bin_hz[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    return torch.as_tensor(np.maximum(0.0, np.minimum(rising, falling)))


def dct_matrix(n_mels: int, n_mfcc: int) -> Tensor:
    """(n_mfcc, n_mels) orthonormal DCT-II (scipy.fft.dct(type=2, norm="ortho")), first n_mfcc rows."""
    k = np.arange(n_mfcc)[:, None]
    n = np.arange(n_mels)[None, :]
    basis = np.cos(math.pi / n_mels * (n + 0.5) * k) * math.sqrt(2.0 / n_mels)
    basis[0] *= math.sqrt(0.5)
    return torch.as_tensor(basis)


def frame_lengths(lengths: Tensor, hop_length: int) -> Tensor:
    """Frames of each utterance of `lengths` samples with centred frames: 1 + length // hop_length."""
    return 1 + torch.div(lengths, hop_length, rounding_mode="floor")


class SpeechFeatures(nn.Module):
    """Log-mel (n_mfcc=None) or MFCC features of a batch of padded waveforms, on their device.

    forward(waveforms (batch, samples), lengths (batch,) samples or None = all full) returns
    (features (batch, frames, n_mels or n_mfcc), frame lengths (batch,) int64); frames past an
    utterance's own are 0. Computed in the waveforms' dtype (float64 gives librosa's numbers to ~1e-12).
    """

    # Buffers, registered in __init__.
    window: Tensor
    filterbank: Tensor
    dct: Tensor

    def __init__(
        self,
        sample_rate: int = 16000,
        n_fft: int = 512,
        win_length: int = 400,
        hop_length: int = 160,
        n_mels: int = 40,
        n_mfcc: int | None = None,
        f_min: float = 0.0,
        f_max: float | None = None,
        top_db: float | None = 80.0,
    ) -> None:
        super().__init__()
        if not 0 < win_length <= n_fft or hop_length < 1:
            raise ValueError(
                f"need 0 < win_length <= n_fft and hop_length >= 1; got {win_length}, {n_fft}, {hop_length}"
            )
        self.sample_rate, self.n_fft, self.win_length, self.hop_length = sample_rate, n_fft, win_length, hop_length
        self.n_mels, self.n_mfcc, self.top_db = n_mels, n_mfcc, top_db
        self.register_buffer(
            "window", torch.hann_window(win_length, periodic=True, dtype=torch.float64), persistent=False
        )
        self.register_buffer("filterbank", mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max), persistent=False)
        dct = dct_matrix(n_mels, n_mfcc) if n_mfcc is not None else torch.zeros(0, n_mels, dtype=torch.float64)
        self.register_buffer("dct", dct, persistent=False)

    @property
    def num_features(self) -> int:
        return self.n_mfcc if self.n_mfcc is not None else self.n_mels

    def forward(self, waveforms: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        dtype = waveforms.dtype
        if lengths is None:
            lengths = torch.full((len(waveforms),), waveforms.shape[-1], dtype=torch.int64)
        counts = frame_lengths(lengths.to(torch.int64), self.hop_length)
        spectrum = torch.stft(
            waveforms,
            self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=self.window.to(dtype),
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        power = spectrum.real.square() + spectrum.imag.square()  # (batch, bins, frames)
        mel = torch.matmul(self.filterbank.to(dtype), power)  # (batch, n_mels, frames)
        log_mel = 10.0 * torch.log10(mel.clamp(min=AMIN))
        valid = torch.arange(log_mel.shape[-1], device=log_mel.device)[None, :] < counts.to(log_mel.device)[:, None]
        if self.top_db is not None:
            peak = log_mel.masked_fill(~valid[:, None, :], -torch.inf).amax(dim=(1, 2), keepdim=True)
            log_mel = torch.maximum(log_mel, peak - self.top_db)
        features = log_mel if self.n_mfcc is None else torch.matmul(self.dct.to(dtype), log_mel)
        features = features.transpose(1, 2).masked_fill(~valid[:, :, None], 0.0)
        return features, counts


@dataclass(frozen=True)
class FeatureSettings:
    """What configs say about features, in their units: window and hop in milliseconds, frequencies in Hz.

    `kind` is log_mel (n_mels values per frame) or mfcc (n_mfcc). `n_fft` is the FFT size in samples
    (null: the window's samples rounded up to a power of two). `top_db` floors the log at this many dB
    below each utterance's loudest bin (null: only the 1e-10 power floor).
    """

    kind: str = "log_mel"
    sample_rate: int = 16000
    window_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int | None = None
    n_mels: int = 40
    n_mfcc: int = 13
    f_min: float = 0.0
    f_max: float | None = None
    top_db: float | None = 80.0

    def __post_init__(self) -> None:
        if self.kind not in FEATURE_KINDS:
            raise ConfigError(f"data.features.kind must be one of {', '.join(FEATURE_KINDS)}; got {self.kind!r}.")
        key = "data.features."
        check_number(key + "sample_rate", self.sample_rate, at_least=1000, whole=True, unit="Hz", meaning="e.g. 16000")
        check_number(key + "window_ms", self.window_ms, above=0, unit="milliseconds", meaning="the window, e.g. 25")
        check_number(key + "hop_ms", self.hop_ms, above=0, unit="milliseconds", meaning="between frames, e.g. 10")
        check_number(key + "n_mels", self.n_mels, at_least=1, whole=True, unit="mel bands", meaning="e.g. 40")
        check_number(
            key + "n_mfcc", self.n_mfcc, at_least=1, at_most=self.n_mels, whole=True, meaning="at most n_mels, e.g. 13"
        )
        check_number(key + "f_min", self.f_min, at_least=0, unit="Hz")
        check_number(key + "top_db", self.top_db, at_least=0, unit="dB", meaning="e.g. 80", null_means="")
        nyquist = self.sample_rate / 2
        f_max = nyquist if self.f_max is None else self.f_max
        if not (is_number(f_max) and self.f_min < f_max <= nyquist):
            raise ConfigError(
                f"data.features.f_max must be null (half the sample rate, {nyquist:g} Hz) or a frequency in Hz "
                f"above f_min ({self.f_min}) and at most {nyquist:g}; got {self.f_max!r}."
            )
        if self.win_length < 2 or self.hop_length < 1:
            raise ConfigError(
                f"data.features.window_ms={self.window_ms} and hop_ms={self.hop_ms} are under two samples and one "
                f"sample at {self.sample_rate} Hz; make them longer (e.g. 25 and 10)."
            )
        check_number(
            key + "n_fft",
            self.n_fft,
            at_least=self.win_length,
            whole=True,
            unit="samples",
            meaning="the window's length",
            null_means="for the window's samples rounded up to a power of two",
        )

    @classmethod
    def from_options(cls, options: dict | None, sample_rate: int) -> FeatureSettings:
        """From a config's `features` mapping (naming any key it does not know) and the data's sample rate."""
        options = dict(options or {})
        known = [name for name in cls.__dataclass_fields__ if name != "sample_rate"]
        check_known_options("data.features", options, known)
        return cls(sample_rate=sample_rate, **options)

    @property
    def win_length(self) -> int:
        return int(round(self.window_ms * self.sample_rate / 1000.0))

    @property
    def hop_length(self) -> int:
        return int(round(self.hop_ms * self.sample_rate / 1000.0))

    @property
    def fft_size(self) -> int:
        return self.n_fft if self.n_fft is not None else 1 << max(self.win_length - 1, 1).bit_length()

    @property
    def num_features(self) -> int:
        return self.n_mels if self.kind == "log_mel" else self.n_mfcc

    def frames(self, samples: int) -> int:
        return 1 + samples // self.hop_length

    def module(self) -> SpeechFeatures:
        return SpeechFeatures(
            self.sample_rate,
            self.fft_size,
            self.win_length,
            self.hop_length,
            self.n_mels,
            self.n_mfcc if self.kind == "mfcc" else None,
            self.f_min,
            self.f_max,
            self.top_db,
        )

    def to_json(self) -> dict:
        return asdict(self)


def compute_features(
    settings: FeatureSettings, clips: Sequence[np.ndarray], pad_to: int | None = None, chunk_size: int = 256
) -> tuple[Tensor, Tensor]:
    """SpeechFeatures of many 1-D waveforms: (features (clips, frames, n) float32, frame lengths).

    With `pad_to`, every clip is zero-padded to that many samples and all its frames are real (the
    fixed-size spectrogram images); without, each clip has its own frames and the rest is padding.
    A chunk of clips at a time, so the spectra of a whole data set never sit in memory at once.
    """
    module = settings.module()
    lengths = [len(c) if pad_to is None else pad_to for c in clips]
    frames = max((settings.frames(n) for n in lengths), default=settings.frames(pad_to or 0))
    features = torch.zeros(len(clips), frames, settings.num_features)
    counts = torch.zeros(len(clips), dtype=torch.int64)
    for start in range(0, len(clips), chunk_size):
        chunk = clips[start : start + chunk_size]
        chunk_lengths = torch.as_tensor(lengths[start : start + chunk_size], dtype=torch.int64)
        padded = torch.zeros(len(chunk), int(chunk_lengths.max()))
        for row, clip in enumerate(chunk):
            samples = torch.as_tensor(np.asarray(clip, dtype=np.float32)[: padded.shape[1]])
            padded[row, : len(samples)] = samples
        values, chunk_counts = module(padded, chunk_lengths)
        features[start : start + len(chunk), : values.shape[1]] = values
        counts[start : start + len(chunk)] = chunk_counts
    return features, counts


class FeatureScaler:
    """Per-feature standardization, (x - mean) / std for every mel bin (or MFCC), with statistics over
    the real frames of the training split only; padded frames stay 0."""

    def __init__(self, mean: Tensor, std: Tensor) -> None:
        self.mean = mean.double()
        self.std = std.double()

    @classmethod
    def fit(cls, features: Tensor, lengths: Tensor) -> FeatureScaler:
        """From features (batch, frames, n) and the frame lengths; a feature that never varies gets std 1."""
        valid = torch.arange(features.shape[1])[None, :] < lengths[:, None]
        frames = features.double()[valid]  # (real frames, n)
        mean = frames.mean(dim=0)
        std = frames.std(dim=0, unbiased=False)
        return cls(mean, torch.where(std > 0, std, torch.ones_like(std)))

    def __call__(self, features: Tensor, lengths: Tensor) -> Tensor:
        valid = (
            torch.arange(features.shape[1], device=features.device)[None, :, None]
            < lengths.to(features.device)[:, None, None]
        )
        scaled = (features - self.mean.to(features)) / self.std.to(features)
        return scaled.masked_fill(~valid, 0.0)

    def to_json(self) -> dict:
        return {"kind": "per_feature_standard", "mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_json(cls, data: dict) -> FeatureScaler:
        return cls(torch.tensor(data["mean"], dtype=torch.float64), torch.tensor(data["std"], dtype=torch.float64))


def mask_stretches(
    size: int, limits: Tensor, count: int, max_width: int, generator: torch.Generator | None = None
) -> Tensor:
    """(batch, size) bool: `count` stretches per row, each of a width drawn uniformly from 0..max_width
    (at most the row's limit) starting uniformly where it fits inside the first `limits[row]` positions
    (SpecAugment's masks; stretches may overlap). Random numbers come from `generator` (on the CPU)
    or, without one, from torch's global generator, which the run's seed seeds."""
    batch = len(limits)
    limits = limits.to(torch.int64).cpu()
    positions = torch.arange(size)[None, :]
    masked = torch.zeros(batch, size, dtype=torch.bool)
    for _ in range(count):
        widths = torch.minimum(torch.randint(0, max_width + 1, (batch,), generator=generator), limits)
        starts = (torch.rand(batch, generator=generator) * (limits - widths + 1)).floor().to(torch.int64)
        masked |= (positions >= starts[:, None]) & (positions < (starts + widths)[:, None])
    return masked


@dataclass(frozen=True)
class SpecAugment:
    """Time and frequency masking of training batches (Park et al. 2019, without time warping): per
    utterance, `time_masks` stretches of up to `time_mask_width` frames inside its real frames and
    `freq_masks` bands of up to `freq_mask_width` features are set to 0, the training mean after
    scaling. Works on image layout (batch, 1, features, frames) and frames layout (batch, frames,
    features, with `lengths`)."""

    time_masks: int = 0
    time_mask_width: int = 0
    freq_masks: int = 0
    freq_mask_width: int = 0

    def __post_init__(self) -> None:
        for name in ("time_masks", "time_mask_width", "freq_masks", "freq_mask_width"):
            value = getattr(self, name)
            check_number(f"data.augment.{name}", value, at_least=0, whole=True, meaning="0 = off")

    @classmethod
    def from_options(cls, options: dict | None) -> SpecAugment:
        options = dict(options or {})
        known = list(cls.__dataclass_fields__)
        check_known_options("data.augment", options, known)
        return cls(**options)

    @property
    def active(self) -> bool:
        return bool(self.time_masks * self.time_mask_width or self.freq_masks * self.freq_mask_width)

    def mask(self, features: Tensor, lengths: Tensor | None, generator: torch.Generator | None = None) -> Tensor:
        """`features` (batch, frames, n) with masks applied (a new tensor)."""
        batch, frames, width = features.shape
        limits = lengths if lengths is not None else torch.full((batch,), frames)
        masked = mask_stretches(frames, limits, self.time_masks, self.time_mask_width, generator)[:, :, None]
        bands = mask_stretches(width, torch.full((batch,), width), self.freq_masks, self.freq_mask_width, generator)
        masked = masked | bands[:, None, :]
        return features.masked_fill(masked.to(features.device), 0.0)

    def __call__(self, batch: dict[str, Tensor], generator: torch.Generator | None = None) -> dict[str, Tensor]:
        inputs = batch["inputs"]
        if inputs.dim() == 4:  # image layout (batch, 1, features, frames)
            masked = self.mask(inputs[:, 0].transpose(1, 2), None, generator).transpose(1, 2)[:, None]
        else:
            masked = self.mask(inputs, batch.get("lengths"), generator)
        return {**batch, "inputs": masked}
