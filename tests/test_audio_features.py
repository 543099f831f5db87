"""Speech features against librosa, batching with padding, SpecAugment masks and the feature scaler."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlrun.data.audio.features import (
    FeatureScaler,
    FeatureSettings,
    SpecAugment,
    SpeechFeatures,
    compute_features,
    mask_stretches,
)
from dlrun.errors import ConfigError

librosa = pytest.importorskip("librosa")

SR = 16000


def chirp(samples: int, seed: int = 0, dtype=np.float32) -> np.ndarray:
    """A rising tone with noise and a silent start: every band gets energy, and the top_db floor bites."""
    t = np.arange(samples) / SR
    rng = np.random.default_rng(seed)
    y = 0.3 * np.sin(2 * np.pi * 300 * t * (1 + 2 * t)) + 0.02 * rng.standard_normal(samples)
    y[: samples // 8] = 0.0
    return y.astype(dtype)


def librosa_log_mel(y, n_fft, win_length, hop, n_mels, fmin=0.0, fmax=None, top_db=80.0):
    power = librosa.feature.melspectrogram(
        y=y,
        sr=SR,
        n_fft=n_fft,
        win_length=win_length,
        hop_length=hop,
        n_mels=n_mels,
        fmin=fmin,
        fmax=fmax,
        htk=True,
        norm=None,
        pad_mode="constant",
        center=True,
        power=2.0,
    )
    return librosa.power_to_db(power, ref=1.0, amin=1e-10, top_db=top_db)


@pytest.mark.parametrize(
    "n_fft, win_length, hop, n_mels, fmin, fmax",
    [(512, 400, 160, 40, 0.0, None), (1024, 1024, 256, 64, 50.0, 7000.0), (256, 200, 80, 20, 300.0, 4000.0)],
)
def test_log_mel_matches_librosa(n_fft, win_length, hop, n_mels, fmin, fmax):
    y = chirp(9001, dtype=np.float64)
    expected = librosa_log_mel(y, n_fft, win_length, hop, n_mels, fmin, fmax)
    module = SpeechFeatures(SR, n_fft, win_length, hop, n_mels, None, fmin, fmax, top_db=80.0)
    features, frames = module(torch.from_numpy(y)[None])
    assert features.shape == (1, expected.shape[1], n_mels)
    assert frames.tolist() == [expected.shape[1]]
    np.testing.assert_allclose(features[0].numpy().T, expected, rtol=1e-5, atol=1e-6)
    # The floor really applied: the silent start sits exactly top_db under the loudest band.
    assert np.isclose(expected.min(), expected.max() - 80.0)


def test_float32_matches_librosa_float32():
    y = chirp(8000)
    expected = librosa_log_mel(y, 512, 400, 160, 40)
    features, _ = SpeechFeatures(SR, 512, 400, 160, 40)(torch.from_numpy(y)[None])
    assert features.dtype == torch.float32
    np.testing.assert_allclose(features[0].numpy().T, expected, rtol=1e-5, atol=2e-4)


def test_mfcc_matches_librosa():
    y = chirp(12000, seed=3, dtype=np.float64)
    log_mel = librosa_log_mel(y, 512, 400, 160, 40, 20.0, 7600.0)
    expected = librosa.feature.mfcc(S=log_mel, n_mfcc=13, dct_type=2, norm="ortho")
    module = SpeechFeatures(SR, 512, 400, 160, 40, 13, 20.0, 7600.0, top_db=80.0)
    features, _ = module(torch.from_numpy(y)[None])
    assert features.shape[-1] == 13
    np.testing.assert_allclose(features[0].numpy().T, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())


def test_mel_power_without_floor_matches_librosa():
    y = chirp(6000, seed=5, dtype=np.float64)
    expected = librosa.feature.melspectrogram(
        y=y,
        sr=SR,
        n_fft=512,
        win_length=400,
        hop_length=160,
        n_mels=40,
        htk=True,
        norm=None,
        pad_mode="constant",
        center=True,
    )
    features, _ = SpeechFeatures(SR, 512, 400, 160, 40, top_db=None)(torch.from_numpy(y)[None])
    power = 10.0 ** (features[0].numpy().T / 10.0)
    # Bands far below the loudest one carry little; compare relative to each frame's own level.
    np.testing.assert_allclose(power, np.maximum(expected, 1e-10), rtol=1e-6, atol=1e-9 * expected.max())


def test_padded_batch_gives_each_clip_its_own_features():
    clips = [chirp(n, seed=n) for n in (4000, 9000, 6500)]
    module = SpeechFeatures(SR, 512, 400, 160, 40, 13)
    padded = torch.zeros(3, 9000)
    for row, clip in enumerate(clips):
        padded[row, : len(clip)] = torch.from_numpy(clip)
    batch, frames = module(padded, torch.tensor([len(c) for c in clips]))
    assert frames.tolist() == [1 + len(c) // 160 for c in clips]
    for row, clip in enumerate(clips):
        alone, _ = module(torch.from_numpy(clip)[None])
        torch.testing.assert_close(batch[row, : frames[row]], alone[0], rtol=1e-5, atol=1e-4)
        assert (batch[row, frames[row] :] == 0).all()
    # compute_features, chunk by chunk, gives the same numbers.
    chunked, counts = compute_features(FeatureSettings(kind="mfcc", n_mels=40, n_mfcc=13), clips, chunk_size=2)
    assert counts.tolist() == frames.tolist()
    torch.testing.assert_close(chunked, batch, rtol=1e-5, atol=1e-4)


def test_settings_convert_milliseconds_to_samples():
    settings = FeatureSettings(sample_rate=16000, window_ms=25, hop_ms=10)
    assert (settings.win_length, settings.hop_length, settings.fft_size) == (400, 160, 512)
    assert FeatureSettings(sample_rate=8000, window_ms=32, hop_ms=16).fft_size == 256
    assert FeatureSettings(n_fft=1024).fft_size == 1024
    assert settings.frames(16000) == 101
    with pytest.raises(ConfigError, match="f_max"):
        FeatureSettings(sample_rate=16000, f_max=9000.0)
    with pytest.raises(ConfigError, match="n_fft"):
        FeatureSettings(n_fft=256)
    with pytest.raises(ConfigError, match="Unknown data.features option 'n_mel'. .*Did you mean n_mels"):
        FeatureSettings.from_options({"n_mel": 20}, 16000)


def test_masks_honour_counts_and_widths():
    generator = torch.Generator().manual_seed(0)
    limits = torch.tensor([100, 100, 30, 5] * 50)
    masked = mask_stretches(100, limits, count=2, max_width=7, generator=generator)
    assert not masked[:, 30:][limits == 30].any() and not masked[:, 5:][limits == 5].any()  # inside the clip
    for row in masked:
        # Runs of masked positions: at most 2, and each no wider than 2 overlapping masks of 7.
        edges = torch.diff(row.int(), prepend=torch.zeros(1, dtype=torch.int32))
        assert int((edges == 1).sum()) <= 2
        assert int(row.sum()) <= 14
    # Widths 0..7 really occur: a mask that ignored max_width or count would show here.
    widths = mask_stretches(100, torch.full((2000,), 100), 1, 7, torch.Generator().manual_seed(1)).sum(dim=1)
    assert set(widths.tolist()) == set(range(8))
    twice = mask_stretches(100, torch.full((2000,), 100), 2, 7, torch.Generator().manual_seed(1)).sum(dim=1)
    assert twice.max() > 7 and twice.float().mean() > widths.float().mean() * 1.5


def test_spec_augment_on_both_layouts():
    augment = SpecAugment(time_masks=1, time_mask_width=10, freq_masks=1, freq_mask_width=4)
    frames = torch.ones(64, 50, 20)
    lengths = torch.full((64,), 30)
    out = augment({"inputs": frames, "lengths": lengths}, torch.Generator().manual_seed(0))["inputs"]
    assert (frames == 1).all()  # a new tensor: the split on the device is never changed
    assert not (out[:, 30:] == 0).all(dim=2).any()  # time masks stay inside each clip's 30 frames
    full_time = (out == 0).all(dim=2)  # frames masked in every band
    full_band = (out[:, :30] == 0).all(dim=1)  # bands masked over the clip's frames
    assert full_time.sum(dim=1).max() <= 10 and full_band.sum(dim=1).max() <= 4
    assert full_time.any() and full_band.any()
    images = torch.ones(64, 1, 20, 50)  # (batch, 1, bands, frames)
    out = augment({"inputs": images}, torch.Generator().manual_seed(0))["inputs"]
    assert out.shape == images.shape
    assert (out == 0).all(dim=2).sum(dim=-1).max() <= 10  # masked frames are columns
    assert (out == 0).all(dim=3).sum(dim=-1).max() <= 4  # masked bands are rows
    # Off when a count or a width is 0; the seed decides the masks.
    assert not SpecAugment(time_masks=3, time_mask_width=0).active
    again = augment({"inputs": images}, torch.Generator().manual_seed(0))["inputs"]
    torch.testing.assert_close(out, again)
    with pytest.raises(ConfigError, match="time_masks"):
        SpecAugment(time_masks=-1)
    with pytest.raises(ConfigError, match="Did you mean time_masks"):
        SpecAugment.from_options({"time_mask": 2})


def test_scaler_uses_real_frames_of_the_training_split():
    features = torch.zeros(2, 4, 2)
    features[0, :3] = torch.tensor([[1.0, 10.0], [2.0, 10.0], [3.0, 10.0]])
    features[1, :1] = torch.tensor([[6.0, 10.0]])
    features[1, 1:] = 1000.0  # padding: must not enter the statistics
    lengths = torch.tensor([3, 1])
    scaler = FeatureScaler.fit(features, lengths)
    torch.testing.assert_close(scaler.mean, torch.tensor([3.0, 10.0], dtype=torch.float64))
    torch.testing.assert_close(scaler.std, torch.tensor([np.std([1, 2, 3, 6.0]), 1.0], dtype=torch.float64))
    scaled = scaler(features, lengths)
    assert (scaled[1, 1:] == 0).all()
    torch.testing.assert_close(scaled[0, :3, 0], (torch.tensor([1.0, 2.0, 3.0]) - 3.0) / float(np.std([1, 2, 3, 6.0])))
    again = FeatureScaler.from_json(scaler.to_json())
    torch.testing.assert_close(again(features, lengths), scaled)


def test_every_setting_reaches_the_features():
    settings = FeatureSettings(
        kind="mfcc",
        sample_rate=SR,
        window_ms=32.0,
        hop_ms=12.0,
        n_fft=1024,
        n_mels=30,
        n_mfcc=10,
        f_min=100.0,
        f_max=6000.0,
        top_db=60.0,
    )
    y = chirp(10000, seed=7)
    features, frames = compute_features(settings, [y])
    log_mel = librosa_log_mel(y.astype(np.float64), 1024, 512, 192, 30, 100.0, 6000.0, top_db=60.0)
    expected = librosa.feature.mfcc(S=log_mel, n_mfcc=10)
    assert frames.tolist() == [expected.shape[1]]
    np.testing.assert_allclose(features[0].numpy().T, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    # pad_to: the clip padded with silence, every frame of it real (the image layout).
    padded, counts = compute_features(settings, [y], pad_to=16000)
    assert counts.tolist() == [1 + 16000 // 192] and padded.shape[1] == counts[0]
