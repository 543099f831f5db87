"""data=spoken_digit_strings: the targets are the digits spoken, voices never cross splits, the batches are
CTC's, and a tiny run trains, evaluates and predicts from the command line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_user_error

from dlrun.data.audio import synthesis
from dlrun.data.audio.digit_strings import LABELS, SpokenDigitStringsDataModule, generation_plan, spell
from dlrun.data.loader import TensorBatches
from dlrun.errors import ConfigError

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

SIZES = {"train_size": 8, "val_size": 3, "test_size": 3}


def tiny(cache: Path, **options) -> SpokenDigitStringsDataModule:
    settings = {**SIZES, "cache_dir": str(cache), "features": {"hop_ms": 20.0}, "max_duration": 3.0, "batch_size": 4}
    return SpokenDigitStringsDataModule(**{**settings, **options})


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def data(cache) -> SpokenDigitStringsDataModule:
    module = tiny(cache)
    module.setup()
    return module


def test_the_targets_are_the_digits_the_voice_was_asked_to_say(data):
    plan = generation_plan(
        data.voices_by_split(), data.sizes, data.digit_range, data.speed_range, data.pitch_range, data.generator_seed
    )
    utterances = data.utterances()
    for split in ("train", "val", "test"):
        batch = data.split(split)
        for row, (digits, _voice, _speed, _pitch) in enumerate(plan[split]):
            length = int(batch["target_lengths"][row])
            assert batch["targets"][row, :length].tolist() == [d + 1 for d in digits]  # 0 is the blank
            assert (batch["targets"][row, length:] == 0).all()
            assert " ".join(LABELS[i] for i in batch["targets"][row, :length].tolist()) == spell(digits)
        # The cached waveform is that text spoken by that voice (exact silence at the ends dropped).
        digits, voice, speed, pitch = plan[split][0]
        spoken = np.round(synthesis.synthesize(spell(digits), voice, speed, pitch) * 32768.0)
        spoken = np.clip(spoken, -32768, 32767).astype(np.int16)
        loud = np.flatnonzero(spoken)
        expected = spoken[loud[0] : loud[-1] + 1].astype(np.float32) / 32768.0
        assert np.array_equal(utterances[split][0][0], expected)
        assert data.split_voices[split][0] == voice


def test_every_utterance_draws_its_count_speed_and_pitch_from_the_ranges(cache):
    module = tiny(cache, min_digits=3, max_digits=4, speed_range=[150, 160], pitch_range=[40, 41])
    plan = generation_plan(
        module.voices_by_split(),
        {"train": 200, "val": 20, "test": 20},
        module.digit_range,
        module.speed_range,
        module.pitch_range,
        module.generator_seed,
    )
    utterances = [u for split in plan.values() for u in split]
    assert {len(digits) for digits, *_ in utterances} == {3, 4}
    assert {speed for _, _, speed, _ in utterances} <= set(range(150, 161))
    assert {pitch for *_, pitch in utterances} == {40, 41}
    assert {d for digits, *_ in utterances for d in digits} == set(range(10))
    again = generation_plan(
        module.voices_by_split(), {"train": 50, "val": 20, "test": 20}, (3, 4), (150, 160), (40, 41), 0
    )
    assert again["val"] == plan["val"] and again["test"] == plan["test"]  # a split's own stream
    other_seed = generation_plan(
        module.voices_by_split(), {"train": 50, "val": 20, "test": 20}, (3, 4), (150, 160), (40, 41), 1
    )
    assert other_seed["val"] != plan["val"]


def test_no_speaker_is_heard_in_two_splits(cache):
    module = tiny(cache, val_fraction=0.2, test_fraction=0.3)
    by_split = module.voices_by_split()
    speakers = {split: {synthesis.variant_of(v) for v in voices} for split, voices in by_split.items()}
    assert not speakers["train"] & speakers["val"] and not speakers["train"] & speakers["test"]
    assert not speakers["val"] & speakers["test"]
    total = sum(len(s) for s in speakers.values())
    assert len(speakers["test"]) == pytest.approx(0.3 * total, abs=1) and len(speakers["val"]) == pytest.approx(
        0.2 * total, abs=1
    )
    only = tiny(cache, languages=["en-us"], variants=["m1", "m2", "f1", "f2"]).voices()
    assert {synthesis.variant_of(v) for v in only} == {"m1", "m2", "f1", "f2"}
    assert {v.partition("+")[0] for v in only} <= {"en-us", "en-us-nyc"} and "en-us+m1" in only


def test_batches_are_ctc_batches_and_the_spec_says_so(data, cache):
    spec = data.spec
    assert spec.task == "ctc" and spec.class_names == LABELS and spec.num_outputs == 11
    assert spec.max_target_length == 5 and spec.input_shape == (spec.max_length, 40)
    train = data.split("train")
    assert train["inputs"].shape[:2] == (8, spec.max_length) and int(train["lengths"].max()) <= spec.max_length
    assert train["lengths"].min() >= 10 and ((train["targets"] >= 0) & (train["targets"] <= 10)).all()
    batch = next(iter(TensorBatches(train, 4)))
    assert set(batch) == {"inputs", "lengths", "targets", "target_lengths"}
    assert batch["inputs"].shape[1] == int(batch["lengths"].max())  # cut to its own longest utterance
    assert list(Path(cache, "spoken_digit_strings").glob("*.npz"))


def test_a_max_duration_that_would_cut_words_is_refused(cache):
    with pytest.raises(ConfigError, match="Raise data.max_duration to at least"):
        tiny(cache, max_duration=0.3).setup()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min_digits": 4, "max_digits": 2}, "min_digits <= max_digits"),
        ({"min_digits": 0}, "data.min_digits"),
        ({"train_size": 0}, "data.train_size"),
        ({"layout": "image"}, "data.layout must be frames"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "leave speakers for training"),
        ({"speed_range": [220, 140]}, "data.speed_range"),
    ],
)
def test_bad_options_are_config_errors_naming_the_key(cache, options, message):
    with pytest.raises(ConfigError, match=message):
        tiny(cache, **options)


# -- the command line -----------------------------------------------------------------------------

TRAIN = (
    "data=spoken_digit_strings",
    "model=bilstm",
    "model.read_out=frames",
    "model.hidden_size=16",
    "data.train_size=24",
    "data.val_size=6",
    "data.test_size=6",
    "trainer.max_epochs=2",
    "logger=none",
    "hydra.run.dir=outputs/tiny",
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, cache):
    """One tiny CLI run shared by the tests below: its dir and its results."""
    from conftest import dlrun_env

    root = tmp_path_factory.mktemp("cli")
    done = subprocess.run(
        [sys.executable, "-m", "dlrun", "train", *TRAIN, f"data.cache_dir={cache}", "task=ctc", "task.beam_width=3"],
        cwd=root,
        env=dlrun_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    run_dir = root / "outputs" / "tiny"
    return run_dir, json.loads((run_dir / "results.json").read_text())


@pytest.mark.slow
def test_a_tiny_run_trains_and_tests_with_error_rates(trained):
    run_dir, results = trained
    metrics = results["test_metrics"]
    assert {"test/wer", "test/cer", "test/exact_match", "test/loss"} <= set(metrics)
    assert 0 <= metrics["test/exact_match"] <= 1 and metrics["test/wer"] >= 0
    # The task's extras sit at the top of results.json.
    assert results["decoding"] == "prefix beam search, beam_width 3"
    assert len(results["errors"]) == round(6 * (1 - metrics["test/exact_match"]))
    assert json.loads((run_dir / "preprocessing.json").read_text())["task"] == "ctc"


@pytest.mark.slow
def test_eval_tests_the_run_again_with_another_beam(dlrun, trained):
    run_dir, results = trained
    done = dlrun("eval", str(run_dir), "task.beam_width=1")
    assert done.returncode == 0, done.stdout + done.stderr
    [written] = run_dir.glob("eval-*.json")
    evaluation = json.loads(written.read_text())
    assert evaluation["extras"]["decoding"] == "greedy"
    assert evaluation["metrics"]["test/loss"] == pytest.approx(results["test_metrics"]["test/loss"], rel=1e-5)


@pytest.mark.slow
def test_predict_writes_the_decoded_words_and_digits_of_wav_files(dlrun, trained, tmp_path):
    import scipy.io.wavfile

    run_dir, _ = trained
    for name, text in (("a.wav", "four two nine"), ("b.wav", "seven one")):
        samples = synthesis.synthesize(text, "en-us+f3", 170, 50)
        scipy.io.wavfile.write(tmp_path / name, 16000, (samples * 32767).astype(np.int16))
    done = dlrun("predict", str(run_dir), str(tmp_path), "--format", "jsonl")
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [Path(r["path"]).name for r in rows] == ["a.wav", "b.wav"]
    for row in rows:  # a two-epoch model hears little, but what it says is spelt both ways
        words = row["prediction"].split()
        assert all(w in LABELS[1:] for w in words)
        assert row["digits"] == "".join(str(LABELS.index(w) - 1) for w in words)


@pytest.mark.slow
def test_a_bad_option_exits_2_naming_it(dlrun, cache):
    bad = dlrun("train", *TRAIN, f"data.cache_dir={cache}", "data.max_digits=0")
    assert_user_error(bad, "data.max_digits")


def test_a_model_without_frames_is_refused_with_the_fix(tmp_path, cache):
    from conftest import build_from_overrides

    overrides = [a for a in TRAIN if a not in ("model.read_out=frames", "hydra.run.dir=outputs/tiny")]
    with pytest.raises(ConfigError, match="set model.read_out=frames"):
        build_from_overrides(tmp_path, *overrides, f"data.cache_dir={cache}")
