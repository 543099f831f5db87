"""The adding problem: generated sequences, their markers and targets, seeding, config, errors, a run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import build_from_overrides
from hydra.utils import instantiate
from omegaconf import OmegaConf

from dlrun.config.compose import first_comment
from dlrun.config.location import config_dir
from dlrun.data import AddingDataModule
from dlrun.data.adding import BASELINE_MSE
from dlrun.errors import ConfigError

SIZES = dict(train_size=300, val_size=200, test_size=1000)


def unscaled_targets(dm: AddingDataModule, split: str) -> np.ndarray:
    return dm.split(split)["targets"].double().numpy() * dm.spec.target_std + dm.spec.target_mean


def test_shapes_dtypes_and_spec():
    dm = AddingDataModule(sequence_length=17, **SIZES)
    for split, size in (("train", 300), ("val", 200), ("test", 1000)):
        batch = dm.split(split)
        assert set(batch) == {"inputs", "targets"}  # no lengths: every sequence has full length
        assert batch["inputs"].shape == (size, 17, 2) and batch["inputs"].dtype == torch.float32
        assert batch["targets"].shape == (size,) and batch["targets"].dtype == torch.float32
    spec = dm.spec
    assert (spec.task, spec.input_shape, spec.max_length, spec.num_outputs) == ("regression", (17, 2), 17, 1)
    assert spec.target_mean == 1.0 and spec.target_std == pytest.approx(math.sqrt(1 / 6))


@pytest.mark.parametrize("length", [2, 3, 50, 51])
def test_two_markers_one_in_each_half_and_values_in_unit_interval(length):
    inputs = AddingDataModule(sequence_length=length, **SIZES).split("train")["inputs"].numpy()
    values, markers = inputs[..., 0], inputs[..., 1]
    assert set(np.unique(markers)) <= {0.0, 1.0}
    half = length // 2
    assert (markers[:, :half].sum(1) == 1).all()
    assert (markers[:, half:].sum(1) == 1).all()
    assert values.min() >= 0.0 and values.max() < 1.0
    if length == 50:  # every position of each half gets marked now and then: uniform, not fixed
        assert len(np.unique(markers.argmax(1))) > 15
        assert len(np.unique(length - 1 - markers[:, ::-1].argmax(1))) > 15


def test_target_is_the_sum_of_the_marked_values():
    dm = AddingDataModule(sequence_length=20, **SIZES)
    for split in ("train", "val", "test"):
        inputs = dm.split(split)["inputs"].double().numpy()
        expected = np.array([row[marks == 1, 0].sum() for row, marks in zip(inputs, inputs[..., 1])])
        np.testing.assert_allclose(unscaled_targets(dm, split), expected, atol=1e-5)


def test_predicting_one_scores_about_a_sixth_and_targets_are_standardized_by_the_known_moments():
    dm = AddingDataModule(sequence_length=30, train_size=5000, val_size=10, test_size=1000)
    test = unscaled_targets(dm, "test")
    assert np.mean((test - 1.0) ** 2) == pytest.approx(1 / 6, abs=0.02)
    assert BASELINE_MSE == pytest.approx(1 / 6)
    scaled = dm.split("train")["targets"].double()
    assert abs(float(scaled.mean())) < 0.05 and float(scaled.std()) == pytest.approx(1.0, abs=0.05)
    baseline = dm.baselines()["constant_1"]
    assert baseline["test/rmse"] ** 2 == pytest.approx(np.mean((test - 1.0) ** 2))
    assert baseline["test/mae"] == pytest.approx(np.mean(np.abs(test - 1.0)))
    assert abs(baseline["test/r2"]) < 0.02


def test_the_same_seed_gives_the_same_data_another_seed_other_data():
    first, again = AddingDataModule(**SIZES), AddingDataModule(**SIZES)
    other = AddingDataModule(generator_seed=1, **SIZES)
    for split in ("train", "val", "test"):
        assert torch.equal(first.split(split)["inputs"], again.split(split)["inputs"])
        assert torch.equal(first.split(split)["targets"], again.split(split)["targets"])
        assert not torch.equal(first.split(split)["inputs"], other.split(split)["inputs"])


def test_splits_differ_and_do_not_depend_on_each_others_sizes():
    dm = AddingDataModule(sequence_length=10, train_size=200, val_size=200, test_size=200)
    inputs = {split: dm.split(split)["inputs"] for split in ("train", "val", "test")}
    assert not torch.equal(inputs["train"], inputs["val"])
    assert not torch.equal(inputs["val"], inputs["test"])
    assert not torch.equal(inputs["train"], inputs["test"])
    bigger = AddingDataModule(sequence_length=10, train_size=500, val_size=200, test_size=200)
    assert torch.equal(bigger.split("val")["inputs"], inputs["val"])  # each split has its own stream
    assert torch.equal(bigger.split("test")["inputs"], inputs["test"])


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(sequence_length=1), "data.sequence_length"),
        (dict(sequence_length=0), "data.sequence_length"),
        (dict(sequence_length=12.5), "data.sequence_length"),
        (dict(train_size=0), "data.train_size"),
        (dict(val_size=0), "data.val_size"),
        (dict(test_size=-3), "data.test_size"),
        (dict(train_size=True), "data.train_size"),
        (dict(generator_seed=-1), "data.generator_seed"),
    ],
)
def test_bad_settings_are_one_paragraph_config_errors_naming_the_key(kwargs, words):
    with pytest.raises(ConfigError) as error:
        AddingDataModule(**kwargs)
    message = str(error.value)
    assert words in message and "\n" not in message


def test_options_reach_the_in_memory_module_untouched():
    dm = AddingDataModule(batch_size=7, eval_batch_size=11, steps_per_execution=3, bucket_pool_batches=5)
    assert (dm.batch_size, dm.eval_batch_size, dm.steps_per_execution, dm.bucket_pool_batches) == (7, 11, 3, 5)


def test_config_builds_the_module_and_describes_every_key():
    path = config_dir() / "data" / "adding.yaml"
    text = path.read_text()
    assert first_comment(text) and "0.167" in first_comment(text)
    lines = text.splitlines()
    shares_the_comment_above = {"val_size": "train_size", "test_size": "val_size", "eval_batch_size": "batch_size"}
    for above, line in zip(lines, lines[1:]):
        key = line.split(":")[0]
        if line and not line.startswith(("#", " ", "_target_")):
            assert above.startswith("#") or above.split(":")[0] == shares_the_comment_above.get(key), line
    dm = instantiate(OmegaConf.load(path))
    assert type(dm) is AddingDataModule
    sizes = (dm.sequence_length, dm.train_size, dm.val_size, dm.test_size, dm.generator_seed)
    assert sizes == (50, 10000, 1000, 1000, 0)
    assert (dm.batch_size, dm.eval_batch_size, dm.steps_per_execution) == (50, 1000, 8)


def test_an_lstm_run_fits_and_tests_on_the_adding_problem(tmp_path):
    run = build_from_overrides(
        tmp_path,
        "data=adding",
        "model=lstm",
        "data.sequence_length=10",
        "data.train_size=64",
        "data.val_size=32",
        "data.test_size=32",
        "data.batch_size=16",
        "model.hidden_size=8",
    )
    assert run.datamodule.spec.input_shape == (10, 2)
    run.trainer.fit(run.task, datamodule=run.datamodule)
    assert run.trainer.global_step > 0
    tested = run.trainer.test(run.task, datamodule=run.datamodule, verbose=False)[0]
    assert math.isfinite(tested["test/rmse"]) and 0.0 < tested["test/rmse"] < 2.0
