"""Batching, splitting, scaling and the sklearn data modules, checked against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn import datasets
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from dlrun.data import SklearnDataModule
from dlrun.data.loader import TensorBatches
from dlrun.data.splits import split_indices
from dlrun.errors import ConfigError

# SklearnDataModule's defaults, used to recompute its split by hand.
VAL_FRACTION, TEST_FRACTION, SPLIT_SEED = 0.15, 0.15, 0


def ids_batches(n: int, **kwargs) -> TensorBatches:
    """Batches of sample ids (and a second tensor derived from them, to check rows stay aligned)."""
    ids = torch.arange(n)
    return TensorBatches({"inputs": ids * 10, "targets": ids}, **kwargs)


def ids_of(batches) -> list[int]:
    return [int(i) for batch in batches for i in batch["targets"]]


# -- TensorBatches --------------------------------------------------------------------------


def test_shuffled_epoch_visits_every_sample_once():
    torch.manual_seed(0)
    loader = ids_batches(103, batch_size=10, shuffle=True)
    for batch in loader:
        assert torch.equal(batch["inputs"], batch["targets"] * 10)  # rows of both tensors stay together
    first, second = ids_of(loader), ids_of(loader)
    assert sorted(first) == list(range(103))
    assert sorted(second) == list(range(103))
    assert first != second  # re-shuffled per epoch
    assert first != list(range(103))


@pytest.mark.parametrize("group_size", [None, 3])
def test_a_resumed_epoch_is_the_rest_of_the_interrupted_one_and_the_epochs_after_it_follow(group_size):
    torch.manual_seed(0)
    loader = ids_batches(103, batch_size=10, shuffle=True, group_size=group_size)
    list(loader)  # a first epoch
    interrupted = list(loader)
    started = loader.epoch_start_state
    following = list(loader)
    fresh = ids_batches(103, batch_size=10, shuffle=True, group_size=group_size)
    fresh.resume_epoch(started, 2)
    assert list(map(repr, fresh)) == list(map(repr, interrupted[2:]))
    assert list(map(repr, fresh)) == list(map(repr, following))  # skipping happens once


def test_unshuffled_order_is_the_original_order():
    loader = ids_batches(25, batch_size=7)
    assert ids_of(loader) == list(range(25))
    assert ids_of(loader) == list(range(25))


@pytest.mark.parametrize("shuffle", [False, True])
def test_batch_sizes_last_batch_smaller(shuffle):
    loader = ids_batches(23, batch_size=5, shuffle=shuffle)
    sizes = [len(b["targets"]) for b in loader]
    assert sizes == [5, 5, 5, 5, 3]
    assert len(loader) == 5


@pytest.mark.parametrize("shuffle", [False, True])
def test_drop_last_drops_the_partial_batch(shuffle):
    torch.manual_seed(1)
    loader = ids_batches(23, batch_size=5, shuffle=shuffle, drop_last=True)
    batches = list(loader)
    assert [len(b["targets"]) for b in batches] == [5, 5, 5, 5]
    assert len(loader) == 4
    seen = ids_of(batches)
    assert len(set(seen)) == 20  # no sample twice
    if not shuffle:
        assert seen == list(range(20))


def test_drop_last_with_exact_multiple_keeps_everything():
    loader = ids_batches(20, batch_size=5, drop_last=True)
    assert len(loader) == 4
    assert ids_of(loader) == list(range(20))


@pytest.mark.parametrize("shuffle", [False, True])
def test_batch_size_none_gives_one_full_batch(shuffle):
    loader = ids_batches(17, batch_size=None, shuffle=shuffle)
    batches = list(loader)
    assert len(loader) == 1 and len(batches) == 1
    assert sorted(batches[0]["targets"].tolist()) == list(range(17))


def test_batch_larger_than_data_gives_one_batch():
    loader = ids_batches(7, batch_size=100)
    assert len(loader) == 1
    assert [len(b["targets"]) for b in loader] == [7]


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("group_size", [1, 2, 3, 4, 10])
def test_groups_cover_every_sample_once(shuffle, group_size):
    torch.manual_seed(0)
    n, batch_size = 47, 5  # 10 batches: nine of 5, one of 2
    loader = ids_batches(n, batch_size=batch_size, shuffle=shuffle, group_size=group_size)
    groups = list(loader)
    assert len(groups) == len(loader) == math.ceil(10 / group_size)
    assert all(isinstance(g, list) and 1 <= len(g) <= group_size for g in groups)
    assert all(len(g) == group_size for g in groups[:-1])
    batches = [b for g in groups for b in g]
    assert [len(b["targets"]) for b in batches] == [5] * 9 + [2]
    for b in batches:
        assert torch.equal(b["inputs"], b["targets"] * 10)
    everything = torch.cat([b["targets"] for b in batches])
    assert sorted(everything.tolist()) == list(range(n))
    if not shuffle:
        assert everything.tolist() == list(range(n))


def test_groups_with_drop_last():
    loader = ids_batches(47, batch_size=5, group_size=4, drop_last=True)  # 9 full batches
    groups = list(loader)
    assert len(loader) == len(groups) == 3
    assert [len(g) for g in groups] == [4, 4, 1]
    assert ids_of(b for g in groups for b in g) == list(range(45))


@pytest.mark.parametrize(
    "n, batch_size, drop_last, group_size, expected",
    [
        (10, 3, False, None, 4),
        (10, 3, True, None, 3),
        (9, 3, False, None, 3),
        (10, None, False, None, 1),
        (10, 3, False, 2, 2),
        (10, 3, False, 3, 2),
        (10, 3, True, 3, 1),
        (10, 1, False, 4, 3),
        (100, 16, False, 32, 1),
        (2, 5, True, None, 0),
    ],
)
def test_len_matches_iteration(n, batch_size, drop_last, group_size, expected):
    loader = ids_batches(n, batch_size=batch_size, drop_last=drop_last, group_size=group_size)
    assert len(loader) == expected
    assert len(list(loader)) == expected


def test_tensor_batches_rejects_bad_arguments():
    with pytest.raises(ValueError, match="same length"):
        TensorBatches({"inputs": torch.zeros(5), "targets": torch.zeros(4)}, batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        ids_batches(5, batch_size=0)
    with pytest.raises(ValueError, match="steps_per_execution"):
        ids_batches(5, batch_size=2, group_size=0)


# -- split_indices --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits_targets() -> np.ndarray:
    return datasets.load_digits().target


@pytest.mark.parametrize("val_fraction, test_fraction", [(0.15, 0.15), (0.2, 0.1), (0.1, 0.3)])
@pytest.mark.parametrize("stratify", [True, False])
def test_split_is_a_partition_with_the_asked_sizes(digits_targets, val_fraction, test_fraction, stratify):
    n = len(digits_targets)
    idx = split_indices(digits_targets, val_fraction, test_fraction, seed=0, stratify=stratify)
    assert set(idx) == {"train", "val", "test"}
    train, val, test = (set(idx[k].tolist()) for k in ("train", "val", "test"))
    assert not (train & val) and not (train & test) and not (val & test)
    assert train | val | test == set(range(n))
    assert sum(len(v) for v in idx.values()) == n
    assert abs(len(idx["val"]) - val_fraction * n) <= 2
    assert abs(len(idx["test"]) - test_fraction * n) <= 2
    assert abs(len(idx["train"]) - (1 - val_fraction - test_fraction) * n) <= 2


def class_deviation(targets: np.ndarray, idx: np.ndarray) -> float:
    """The largest |count of a class in the split - its count if the split had the overall proportions|."""
    return max(abs(np.sum(targets[idx] == c) - len(idx) * np.mean(targets == c)) for c in np.unique(targets))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("val_fraction, test_fraction", [(0.15, 0.15), (0.2, 0.1)])
def test_stratified_split_keeps_class_proportions(digits_targets, seed, val_fraction, test_fraction):
    idx = split_indices(digits_targets, val_fraction, test_fraction, seed=seed, stratify=True)
    assert class_deviation(digits_targets, idx["test"]) <= 1.0
    assert class_deviation(digits_targets, idx["val"]) <= 1.0
    # Train is what the two stratified cuts leave, so its rounding is at most the sum of theirs
    # (observed: 1.008 for class 3 with seed 0 and 0.15/0.15).
    assert class_deviation(digits_targets, idx["train"]) <= 2.0


def test_unstratified_split_does_not_keep_class_proportions(digits_targets):
    """The check above can fail: without stratification proportions drift by several examples."""
    idx = split_indices(digits_targets, 0.15, 0.15, seed=0, stratify=False)
    assert max(class_deviation(digits_targets, idx[k]) for k in idx) > 2.0


def test_split_is_reproducible_per_seed(digits_targets):
    a = split_indices(digits_targets, 0.15, 0.15, seed=3, stratify=True)
    b = split_indices(digits_targets, 0.15, 0.15, seed=3, stratify=True)
    c = split_indices(digits_targets, 0.15, 0.15, seed=4, stratify=True)
    for key in ("train", "val", "test"):
        np.testing.assert_array_equal(a[key], b[key])
    assert any(not np.array_equal(a[key], c[key]) for key in ("train", "val", "test"))
    assert not np.array_equal(a["test"], c["test"])


@pytest.mark.parametrize(
    "val_fraction, test_fraction",
    [(0.0, 0.2), (0.2, 0.0), (1.0, 0.1), (0.1, 1.0), (-0.1, 0.2), (0.5, 0.5), (0.6, 0.5), (1.5, 0.1)],
)
def test_bad_fractions_raise_config_error(digits_targets, val_fraction, test_fraction):
    with pytest.raises(ConfigError):
        split_indices(digits_targets, val_fraction, test_fraction, seed=0, stratify=True)


def test_impossible_stratification_raises_config_error():
    targets = np.array([0] * 10 + [1])  # one example of class 1 cannot be in every split
    with pytest.raises(ConfigError):
        split_indices(targets, 0.2, 0.2, seed=0, stratify=True)


# -- SklearnDataModule: scaling -------------------------------------------------------------


def iris_by_hand():
    bunch = datasets.load_iris()
    idx = split_indices(bunch.target, VAL_FRACTION, TEST_FRACTION, seed=SPLIT_SEED, stratify=True)
    return bunch.data, bunch.target, idx


@pytest.fixture(scope="module")
def iris_standard() -> SklearnDataModule:
    return SklearnDataModule(name="iris", scaling="standard")


def test_standard_scaling_is_fitted_on_train_only(iris_standard):
    train = iris_standard.split("train")["inputs"].double()
    torch.testing.assert_close(train.mean(0), torch.zeros(4, dtype=torch.float64), atol=1e-5, rtol=0)
    torch.testing.assert_close(train.std(0, unbiased=False), torch.ones(4, dtype=torch.float64), atol=1e-3, rtol=0)
    for split in ("val", "test"):
        means = iris_standard.split(split)["inputs"].double().mean(0)
        assert means.abs().max() > 1e-3, f"{split} is centred exactly: scaler fitted on it?"


def test_standard_scaling_matches_sklearn_by_hand(iris_standard):
    features, targets, idx = iris_by_hand()
    scaler = StandardScaler().fit(features[idx["train"]])
    for split in ("train", "val", "test"):
        served = iris_standard.split(split)
        expected = scaler.transform(features[idx[split]])
        np.testing.assert_allclose(served["inputs"].numpy(), expected, atol=1e-5, rtol=0)
        np.testing.assert_array_equal(served["targets"].numpy(), targets[idx[split]])
        assert served["inputs"].dtype == torch.float32
        assert served["targets"].dtype == torch.int64
    # A scaler fitted on everything would serve visibly different numbers.
    everything = StandardScaler().fit(features).transform(features[idx["train"]])
    assert np.abs(iris_standard.split("train")["inputs"].numpy() - everything).max() > 1e-3


def test_minmax_scaling_maps_train_onto_unit_interval():
    module = SklearnDataModule(name="iris", scaling="minmax")
    train = module.split("train")["inputs"]
    assert train.min() >= -1e-6 and train.max() <= 1 + 1e-6
    torch.testing.assert_close(train.min(0).values, torch.zeros(4), atol=1e-6, rtol=0)
    torch.testing.assert_close(train.max(0).values, torch.ones(4), atol=1e-6, rtol=0)
    features, _, idx = iris_by_hand()
    scaler = MinMaxScaler().fit(features[idx["train"]])
    for split in ("train", "val", "test"):
        np.testing.assert_allclose(
            module.split(split)["inputs"].numpy(), scaler.transform(features[idx[split]]), atol=1e-6, rtol=0
        )


def test_no_scaling_serves_raw_features():
    module = SklearnDataModule(name="iris", scaling=None)
    features, _, idx = iris_by_hand()
    for split in ("train", "val", "test"):
        np.testing.assert_allclose(module.split(split)["inputs"].numpy(), features[idx[split]], rtol=1e-6)


def test_unknown_scaling_raises_config_error():
    with pytest.raises(ConfigError, match="minmax"):
        SklearnDataModule(name="iris", scaling="robust").setup()


# -- SklearnDataModule: specs ---------------------------------------------------------------


def test_digits_spec_and_shapes():
    module = SklearnDataModule(name="digits")
    spec = module.spec
    assert spec.input_shape == (1, 8, 8)
    assert spec.num_classes == 10 and spec.num_outputs == 10
    assert spec.task == "multiclass"
    assert spec.num_features == 64
    sizes = {k: len(module.split(k)["inputs"]) for k in ("train", "val", "test")}
    assert sum(sizes.values()) == 1797
    assert module.split("train")["inputs"].shape == (sizes["train"], 1, 8, 8)
    # Images are the scaled 64 features reshaped row-major.
    bunch = datasets.load_digits()
    idx = split_indices(bunch.target, VAL_FRACTION, TEST_FRACTION, seed=SPLIT_SEED, stratify=True)
    scaler = StandardScaler().fit(bunch.data[idx["train"]])
    np.testing.assert_allclose(
        module.split("val")["inputs"].reshape(-1, 64).numpy(),
        scaler.transform(bunch.data[idx["val"]]),
        atol=1e-5,
        rtol=0,
    )


def test_iris_spec():
    spec = SklearnDataModule(name="iris").spec
    assert spec.task == "multiclass"
    assert spec.input_shape == (4,)
    assert spec.num_classes == 3 and spec.num_outputs == 3
    assert spec.class_names == ("setosa", "versicolor", "virginica")


def test_breast_cancer_is_binary_with_one_output():
    module = SklearnDataModule(name="breast_cancer")
    spec = module.spec
    assert spec.task == "binary"
    assert spec.num_outputs == 1
    assert spec.input_shape == (30,)
    targets = torch.cat([module.split(k)["targets"] for k in ("train", "val", "test")])
    assert set(targets.tolist()) == {0, 1}
    assert len(targets) == 569


@pytest.fixture(scope="module")
def diabetes() -> SklearnDataModule:
    return SklearnDataModule(name="diabetes")


def diabetes_by_hand():
    bunch = datasets.load_diabetes()
    idx = split_indices(bunch.target, VAL_FRACTION, TEST_FRACTION, seed=SPLIT_SEED, stratify=False)
    return bunch.target, idx


def test_diabetes_is_regression_with_standardized_targets(diabetes):
    spec = diabetes.spec
    assert spec.task == "regression"
    assert spec.num_outputs == 1
    assert spec.input_shape == (10,)
    assert diabetes.split("train")["targets"].dtype == torch.float32
    train_targets = diabetes.split("train")["targets"].double()
    assert abs(float(train_targets.mean())) < 1e-5
    assert float(train_targets.std(unbiased=False)) == pytest.approx(1.0, abs=1e-5)


def test_diabetes_spec_holds_raw_train_target_statistics(diabetes):
    raw, idx = diabetes_by_hand()
    spec = diabetes.spec
    assert spec.target_mean == pytest.approx(raw[idx["train"]].mean(), rel=1e-9)
    assert spec.target_std == pytest.approx(raw[idx["train"]].std(), rel=1e-9)
    # Held-out targets are standardized with the train statistics and un-scale to the raw values.
    for split in ("train", "val", "test"):
        served = diabetes.split(split)["targets"].double().numpy()
        np.testing.assert_allclose(served * spec.target_std + spec.target_mean, raw[idx[split]], rtol=1e-5)
    assert abs(diabetes.split("test")["targets"].double().mean()) > 1e-3


def test_unknown_data_set_name_suggests_the_closest():
    with pytest.raises(ConfigError, match="Did you mean iris"):
        SklearnDataModule(name="iriss")
    with pytest.raises(ConfigError) as info:
        SklearnDataModule(name="mnist")
    for name in ("digits", "iris", "wine", "breast_cancer", "diabetes"):
        assert name in str(info.value)


def test_dataloaders_serve_the_splits():
    module = SklearnDataModule(name="iris", batch_size=16, eval_batch_size=None, steps_per_execution=4)
    module.setup()
    train = module.train_dataloader()
    n_train = len(module.split("train")["inputs"])
    assert len(train) == math.ceil(math.ceil(n_train / 16) / 4)
    seen = torch.cat([b["targets"] for group in train for b in group])
    assert len(seen) == n_train
    assert torch.equal(seen.sort().values, module.split("train")["targets"].sort().values)
    val = list(module.val_dataloader())
    assert len(val) == 1 and torch.equal(val[0]["inputs"], module.split("val")["inputs"])
