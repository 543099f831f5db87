"""data=spoken_digits: espeak-ng synthesis, speaker-disjoint splits, the cache, every option, and the CLI.

Sizes are tiny (a few words, a few voices, a few utterances each) and the cache is a tmp dir, so
the whole file synthesizes a few hundred utterances at most.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from dlrun.data.audio import synthesis
from dlrun.data.audio.spoken_digits import SpokenDigitsDataModule
from dlrun.errors import ConfigError

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (apt-get install espeak-ng)")

VARIANTS = ["m1", "m3", "f2", "f4", "Alex", "klatt"]
TINY = dict(
    words=["zero", "one", "seven"],
    examples_per_word=8,
    languages=["en-us", "en-gb"],
    variants=VARIANTS,
    val_fraction=0.25,
    test_fraction=0.25,
)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def module(cache: Path, **options) -> SpokenDigitsDataModule:
    return SpokenDigitsDataModule(**{**TINY, "cache_dir": str(cache), **options})


# -- synthesis ---------------------------------------------------------------------------------


def test_synthesis_is_deterministic_and_follows_its_arguments():
    seven = synthesis.synthesize("seven", "en-us+m7", 175, 50)
    assert seven.dtype == np.float32 and seven.ndim == 1 and np.abs(seven).max() <= 1.0
    assert np.abs(seven).max() > 0.1
    np.testing.assert_array_equal(seven, synthesis.synthesize("seven", "en-us+m7", 175, 50))
    # 22,050 Hz from espeak-ng, resampled: the length follows the rate.
    low = synthesis.synthesize("seven", "en-us+m7", 175, 50, sample_rate=8000)
    assert abs(len(low) * 2 - len(seven)) <= 2
    assert len(synthesis.synthesize("seven", "en-us+m7", 350, 50)) < 0.7 * len(seven)
    assert not np.array_equal(synthesis.synthesize("seven", "en-us+m7", 175, 90)[:5000], seven[:5000])
    assert not np.array_equal(synthesis.synthesize("seven", "en-us+f3", 175, 50)[:5000], seven[:5000])


def test_voices_and_their_errors():
    voices = synthesis.available_voices()
    assert "en-us+m7" in voices and "en-gb" in voices and "en-gb-scotland+f3" in voices
    assert all(v.startswith("en") for v in voices) and not any("mb-" in v for v in voices)
    assert len(voices) == len(set(voices)) > 500
    assert set(synthesis.available_voices(["en-us"])) < set(voices)
    # espeak-ng itself would speak an unknown variant in the base voice, without a word.
    with pytest.raises(ConfigError, match="no voice 'en-us\\+m77'.*Did you mean"):
        synthesis.synthesize("one", "en-us+m77", 175, 50)
    with pytest.raises(ConfigError, match="speed must be a whole number from 80 to 450"):
        synthesis.synthesize("one", "en-us", 20, 50)


def test_a_missing_espeak_names_the_install_command(monkeypatch):
    monkeypatch.setattr(synthesis.shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match="apt-get install espeak-ng"):
        synthesis.espeak_command()


def test_speaker_split_keeps_each_variant_in_one_split():
    voices = synthesis.available_voices()
    split = synthesis.speaker_split(voices, seed=0, fractions={"train": 0.7, "val": 0.15, "test": 0.15})
    assert sorted(sum(split.values(), [])) == sorted(voices)
    variants = {name: {synthesis.variant_of(v) for v in members} for name, members in split.items()}
    assert not variants["train"] & variants["test"] and not variants["train"] & variants["val"]
    assert not variants["val"] & variants["test"]
    assert len(variants["test"]) == round(0.15 * 102)  # 101 variants and the base voices
    assert synthesis.speaker_split(voices, 0, {"train": 0.7, "val": 0.15, "test": 0.15}) == split
    assert synthesis.speaker_split(voices, 1, {"train": 0.7, "val": 0.15, "test": 0.15}) != split
    # Every split gets a speaker even when its fraction rounds to none.
    few = synthesis.speaker_split(["en+m1", "en+m2", "en+m3"], 0, {"train": 0.9, "val": 0.05, "test": 0.05})
    assert [len(v) for v in few.values()] == [1, 1, 1]
    with pytest.raises(ConfigError, match="2 speaker"):
        synthesis.speaker_split(["en+m1", "en-us+m1", "en+m2"], 0, {"train": 0.5, "val": 0.25, "test": 0.25})


# -- the data ----------------------------------------------------------------------------------


def test_labels_voices_speeds_and_pitches_are_the_utterances_own(cache):
    data = module(cache)
    arrays = data.generated()
    assert np.bincount(arrays["splits"]).tolist() == [3 * 4, 3 * 2, 3 * 2]
    assert np.bincount(arrays["labels"]).tolist() == [8, 8, 8]
    assert ((arrays["speeds"] >= 130) & (arrays["speeds"] <= 230)).all()
    assert ((arrays["pitches"] >= 20) & (arrays["pitches"] <= 80)).all()
    assert {synthesis.variant_of(v) for v in arrays["voices"]} <= set(VARIANTS)
    # Languages are prefixes: en-gb is also en-gb-scotland, en-gb-x-rp, ...
    assert all(str(v).startswith(("en-us", "en-gb")) for v in arrays["voices"])
    for i in (0, 7, 13, 23):
        # Synthesized again from what the cache says it is: the same samples, so the label is right.
        word = TINY["words"][arrays["labels"][i]]
        again = synthesis.synthesize(
            word, str(arrays["voices"][i]), int(arrays["speeds"][i]), int(arrays["pitches"][i])
        )
        again = np.clip(np.round(again * 32768), -32768, 32767).astype(np.int16)
        again = again[np.flatnonzero(again)[0] : np.flatnonzero(again)[-1] + 1]
        np.testing.assert_array_equal(arrays["samples"][arrays["offsets"][i] : arrays["offsets"][i + 1]], again)


def test_test_speakers_are_never_heard_in_training(cache):
    data = module(cache)
    data.setup()
    heard = {split: {synthesis.variant_of(v) for v in voices} for split, voices in data.split_voices.items()}
    assert heard["test"] and heard["train"] and not heard["test"] & (heard["train"] | heard["val"])
    assert not heard["val"] & heard["train"]
    assert data.spec.class_names == ("zero", "one", "seven") and data.spec.num_classes == 3
    assert [len(data.split(s)["targets"]) for s in ("train", "val", "test")] == [12, 6, 6]


def test_generated_once_then_read_from_the_cache(cache, tmp_path, monkeypatch):
    path = module(cache).cache_path()
    module(cache).generated()
    assert path.is_file() and path.parent == cache / "spoken_digits"
    stamp = path.stat().st_mtime_ns

    def no_synthesis(*args, **kwargs):
        raise AssertionError("synthesized again although the cache holds these settings")

    monkeypatch.setattr(synthesis, "synthesize", no_synthesis)
    first = module(cache).generated()
    assert path.stat().st_mtime_ns == stamp
    monkeypatch.undo()
    # Generated anew elsewhere (here through $XDG_CACHE_HOME): the same arrays, bit for bit.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    elsewhere = SpokenDigitsDataModule(**TINY)
    assert elsewhere.cache_path() == tmp_path / "dlrun" / "spoken_digits" / path.name
    second = elsewhere.generated()
    assert second.keys() == first.keys()
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])
    # Another setting, another file.
    assert module(cache, generator_seed=1).cache_path() != path
    assert module(cache, speed_range=[140, 200]).cache_path() != path


def test_generation_options_change_the_data(cache):
    base = module(cache, words=["two", "three"], examples_per_word=4).generated()
    seeded = module(cache, words=["two", "three"], examples_per_word=4, generator_seed=5).generated()
    assert not np.array_equal(base["speeds"], seeded["speeds"])
    slow = module(
        cache, words=["two", "three"], examples_per_word=4, speed_range=[100, 100], pitch_range=[10, 12]
    ).generated()
    assert set(slow["speeds"].tolist()) == {100} and set(slow["pitches"].tolist()) <= {10, 11, 12}
    assert np.diff(slow["offsets"]).mean() > np.diff(base["offsets"]).mean()
    rate = module(cache, words=["two", "three"], examples_per_word=4, sample_rate=8000).generated()
    np.testing.assert_allclose(np.diff(rate["offsets"]).sum() * 2, np.diff(base["offsets"]).sum(), rtol=0.01)
    only = module(
        cache, words=["two", "three"], examples_per_word=4, languages=["en-gb"], variants=["m1", "f2", "Alex"]
    ).generated()
    assert all(
        str(v).startswith("en-gb") and synthesis.variant_of(str(v)) in ("m1", "f2", "Alex") for v in only["voices"]
    )
    bigger = module(
        cache, words=["two", "three"], examples_per_word=8, val_fraction=0.125, test_fraction=0.375
    ).generated()
    assert np.bincount(bigger["splits"]).tolist() == [2 * 4, 2 * 1, 2 * 3]


def test_layouts_and_feature_options(cache):
    image = module(cache)
    image.setup()
    assert image.spec.input_shape == (1, 40, 101) and "lengths" not in image.split("train")
    assert not image.spec.is_sequence
    frames = module(cache, layout="frames", features={"kind": "mfcc", "n_mfcc": 12}, max_duration=0.5)
    batch = frames.split("train")
    assert frames.spec.input_shape[1] == 12 and frames.spec.max_length == frames.spec.input_shape[0] <= 51
    assert batch["lengths"].max() == batch["inputs"].shape[1] and batch["lengths"].min() < batch["lengths"].max()
    assert (batch["inputs"][0, batch["lengths"][0] :] == 0).all()
    # auto: frames for dlrun's recurrent models, images for the rest.
    assert module(cache, model_target="dlrun.models.RecurrentNet").layout == "frames"
    assert module(cache, model_target="dlrun.models.CNN").layout == "image"
    wide = module(cache, features={"n_mels": 20, "hop_ms": 20.0}, max_duration=0.6)
    assert wide.spec.input_shape == (1, 20, 31)
    # trim_db cuts quiet ends: the clips get shorter.
    kept = module(cache, layout="frames", trim_db=None).split("train")["lengths"]
    trimmed = module(cache, layout="frames", trim_db=20.0).split("train")["lengths"]
    assert (trimmed <= kept).all() and trimmed.sum() < kept.sum()


def test_scaling_and_augmentation(cache):
    scaled = module(cache, layout="frames")
    batch = scaled.split("train")
    real = torch.arange(batch["inputs"].shape[1])[None, :] < batch["lengths"][:, None]
    values = batch["inputs"][real]
    torch.testing.assert_close(values.mean(dim=0), torch.zeros(40), atol=1e-4, rtol=0)
    torch.testing.assert_close(values.std(dim=0, unbiased=False), torch.ones(40), atol=1e-3, rtol=0)
    raw = module(cache, layout="frames", scaling=None).split("train")
    assert raw["inputs"][real].max() > 5  # dB
    assert scaled.augmentation is None
    masked = module(cache, augment={"time_masks": 2, "time_mask_width": 5, "freq_masks": 1, "freq_mask_width": 3})
    masked.setup()
    assert masked.augmentation is not None and masked.augmentation.time_masks == 2
    assert masked.augmentation.freq_mask_width == 3


@pytest.mark.parametrize(
    "options, message",
    [
        ({"words": ["one"]}, "data.words must list at least two"),
        ({"examples_per_word": 2}, "data.examples_per_word=2 gives"),
        ({"speed_range": [300, 100]}, "data.speed_range must be"),
        ({"pitch_range": [0, 120]}, "data.pitch_range must be"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "must leave speakers for training"),
        ({"layout": "pictures"}, "Unknown data.layout 'pictures'"),
        ({"scaling": "minmax"}, "data.scaling must be standard"),
        ({"max_duration": 0}, "data.max_duration"),
        ({"features": {"n_mel": 20}}, "Did you mean n_mels"),
        ({"augment": {"time_masks": -1}}, "data.augment.time_masks"),
        ({"generator_seed": -1}, "data.generator_seed"),
    ],
)
def test_bad_options_are_named(cache, options, message):
    with pytest.raises(ConfigError, match=message.replace(".", "\\.").replace("[", "\\[")):
        module(cache, **options)


def test_bad_voice_choices_are_named(cache):
    with pytest.raises(ConfigError, match="Unknown data.variants entry 'm99'"):
        module(cache, variants=["m1", "m99"]).voices()
    with pytest.raises(ConfigError, match="no voice for data.languages"):
        module(cache, languages=["xx"]).voices()


# -- through the CLI ---------------------------------------------------------------------------


def test_train_then_predict_wav_files_through_the_cli(dlrun, tmp_path, monkeypatch, cache):
    from scipy.io import wavfile
    from typer.testing import CliRunner

    from dlrun.cli import app
    from dlrun.run_dir.rebuilding import open_trained

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    options = [f"data.{key}={value}" for key, value in TINY.items()]
    options = [o.replace("'", "") for o in options]
    done = dlrun(
        "train",
        "data=spoken_digits",
        "model=bilstm",
        "model.hidden_size=8",
        *options,
        "trainer.max_epochs=2",
        "logger=none",
        "hydra.run.dir=run",
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    run = tmp_path / "run"
    assert "test/acc" in done.stdout

    # Three test utterances written as WAV files (one as 44.1 kHz stereo): predict must featurize
    # them exactly as training served them.
    trained = open_trained(run)
    datamodule = trained.data()
    model = trained.model(datamodule.spec)
    assert datamodule.layout == "frames"
    arrays = datamodule.generated()
    test_rows = np.flatnonzero(arrays["splits"] == 2)[:3]
    clips = tmp_path / "clips"
    clips.mkdir()
    for n, i in enumerate(test_rows):
        samples = arrays["samples"][arrays["offsets"][i] : arrays["offsets"][i + 1]]
        wavfile.write(clips / f"{n}.wav", 16000, samples)
    test = datamodule.split("test")
    with torch.no_grad():
        expected = model(test["inputs"][:3], lengths=test["lengths"][:3]).double().softmax(dim=-1).numpy()
    result = CliRunner().invoke(app, ["predict", str(run), str(clips)])
    assert result.exit_code == 0, (result.output, result.exception)
    table = pd.read_csv(io.StringIO(result.stdout))
    assert table["path"].tolist() == [str(clips / f"{n}.wav") for n in range(3)]
    probabilities = table[[f"prob_{w}" for w in TINY["words"]]].to_numpy()
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert table["prediction"].tolist() == [TINY["words"][k] for k in expected.argmax(axis=1)]

    stereo = np.repeat(
        synthesis.resample(arrays["samples"][: arrays["offsets"][1]] / 32768.0, 16000, 44100)[:, None], 2, 1
    )
    wavfile.write(tmp_path / "stereo.wav", 44100, stereo.astype(np.float32))
    result = CliRunner().invoke(app, ["predict", str(run), str(tmp_path / "stereo.wav")])
    assert result.exit_code == 0, (result.output, result.exception)
    assert pd.read_csv(io.StringIO(result.stdout))["prediction"].iloc[0] in TINY["words"]
    (tmp_path / "noise.wav").write_bytes(b"RIFF not really")
    result = CliRunner().invoke(app, ["predict", str(run), str(tmp_path / "noise.wav")])
    assert result.exit_code == 2 and "as a WAV file" in result.stderr


def test_a_bad_option_exits_2_with_its_name(dlrun):
    done = dlrun("train", "data=spoken_digits", "data.speed_range=[300,100]", "logger=none")
    assert done.returncode == 2, done.stderr[-2000:]
    assert "data.speed_range must be [low, high]" in done.stderr and "Traceback" not in done.stderr


def test_a_cnn_trains_on_the_spectrogram_images(tmp_path, cache):
    from conftest import build_from_overrides

    options = [f"data.{key}={value}".replace("'", "") for key, value in TINY.items()]
    run = build_from_overrides(
        tmp_path,
        "data=spoken_digits",
        "model=cnn",
        "model.channels=[4,8]",
        "model.head_sizes=[16]",
        f"data.cache_dir={cache}",
        "data.augment.time_masks=1",
        "data.augment.time_mask_width=5",
        *options,
        "callbacks=none",
    )
    assert run.datamodule.layout == "image" and run.datamodule.spec.input_shape == (1, 40, 101)
    before = {k: v.clone() for k, v in run.task.model.state_dict().items()}
    run.trainer.fit(run.task, datamodule=run.datamodule)
    assert run.datamodule.augmentation is not None
    assert any(not torch.equal(before[k], v) for k, v in run.task.model.state_dict().items())
    scores = run.trainer.test(run.task, datamodule=run.datamodule, verbose=False)[0]
    assert {"test/acc", "test/loss"} <= set(scores)
