"""k-fold cross-validation: data.folds=K data.fold=i, on split_indices and every data module using it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import build_from_overrides
from PIL import Image
from sklearn import datasets

from dlrun.data import ImageFolderDataModule, SklearnDataModule, TableDataModule
from dlrun.data.splits import split_indices, split_train_val
from dlrun.errors import ConfigError

# 60 examples of class 0, 30 of class 1, 15 of class 2, shuffled so that position says nothing.
TARGETS = np.random.default_rng(0).permutation(np.repeat([0, 1, 2], [60, 30, 15]))


def all_folds(targets, folds, stratify=True, seed=0):
    return [split_indices(targets, 0.15, 0.2, seed=seed, stratify=stratify, folds=folds, fold=i) for i in range(folds)]


@pytest.mark.parametrize("stratify", [True, False])
def test_folds_partition_everything_outside_the_fixed_test_split(stratify):
    plain = split_indices(TARGETS, 0.15, 0.2, seed=0, stratify=stratify)
    folds = all_folds(TARGETS, 5, stratify)
    outside_test = np.setdiff1d(np.arange(len(TARGETS)), plain["test"])
    for split in folds:
        assert split["test"].tolist() == plain["test"].tolist()  # same test split, with or without folds
        assert np.intersect1d(split["train"], split["val"]).size == 0
        assert np.union1d(split["train"], split["val"]).tolist() == outside_test.tolist()
    vals = np.concatenate([split["val"] for split in folds])
    assert sorted(vals.tolist()) == outside_test.tolist()  # every example validates exactly once
    assert {len(split["val"]) for split in folds} == {len(outside_test) // 5, -(-len(outside_test) // 5)}


def test_folds_are_stratified():
    for split in all_folds(TARGETS, 3):
        rest = np.concatenate([split["train"], split["val"]])
        for c in range(3):
            # a third of each class outside the test split validates in each fold (+-1 for rounding)
            assert abs(np.sum(TARGETS[split["val"]] == c) - np.sum(TARGETS[rest] == c) / 3) < 1


def test_unstratified_folds_ignore_the_classes():
    # Without stratification the class counts per fold drift from a third (class 0 has 48 outside
    # the test split, so 16 per fold if stratified).
    counts = [int(np.sum(TARGETS[s["val"]] == 0)) for s in all_folds(TARGETS, 3, stratify=False)]
    assert counts != [16, 16, 16]


def test_folds_depend_on_the_split_seed_only():
    assert all_folds(TARGETS, 4, seed=1)[2]["val"].tolist() == all_folds(TARGETS, 4, seed=1)[2]["val"].tolist()
    assert all_folds(TARGETS, 4, seed=1)[2]["val"].tolist() != all_folds(TARGETS, 4, seed=2)[2]["val"].tolist()


def test_positional_call_still_works_and_ignores_folds():
    assert (
        split_indices(TARGETS, 0.15, 0.2, 0, True)["val"].tolist()
        == split_indices(TARGETS, 0.15, 0.2, seed=0, stratify=True, folds=None, fold=0)["val"].tolist()
    )


def test_split_train_val_folds_a_set_whose_test_split_is_fixed_elsewhere():
    # For data sets that come with their own test set: all of TARGETS is training data here.
    folds = [split_train_val(TARGETS, 0.2, seed=0, stratify=True, folds=4, fold=i) for i in range(4)]
    vals = np.concatenate([f["val"] for f in folds])
    assert sorted(vals.tolist()) == list(range(len(TARGETS)))
    for f in folds:
        assert sorted(np.concatenate([f["train"], f["val"]]).tolist()) == list(range(len(TARGETS)))
        assert [int(np.sum(TARGETS[f["val"]] == c)) for c in range(3)] in (
            [15, 8, 4],
            [15, 7, 4],
            [15, 8, 3],
            [15, 7, 3],
        )
    plain = split_train_val(TARGETS, 0.2, seed=0, stratify=True)
    assert len(plain["val"]) == 21 and [int(np.sum(TARGETS[plain["val"]] == c)) for c in range(3)] == [12, 6, 3]


@pytest.mark.parametrize(
    ("folds", "fold", "needle"),
    [
        (5, 5, "0..4"),
        (5, -1, "0..4"),
        (1, 0, "at least 2"),
        (0, 0, "at least 2"),
        (None, 2, "needs data.folds"),
        (200, 0, "Could not split"),  # more folds than examples of any class
    ],
)
def test_bad_folds_raise_config_error(folds, fold, needle):
    with pytest.raises(ConfigError, match=needle):
        split_indices(TARGETS, 0.15, 0.2, seed=0, stratify=True, folds=folds, fold=fold)


# -- every in-memory data module passes the folds on -----------------------------------------


def iris_module(**kwargs):
    return SklearnDataModule(name="iris", **kwargs)


def table_module(tmp_path, **kwargs):
    path = tmp_path / "table.csv"
    if not path.exists():
        pd.DataFrame({"row": np.arange(len(TARGETS)), "y": TARGETS}).to_csv(path, index=False)
    return TableDataModule(path=str(path), target="y", features=["row"], scaling=None, **kwargs)


def folder_module(tmp_path, **kwargs):
    root = tmp_path / "images"
    if not root.exists():
        for k in range(2):
            (root / f"class{k}").mkdir(parents=True)
            for i in range(10):
                Image.new("L", (2, 2), 10 * i + 100 * k).save(root / f"class{k}" / f"{i}.png")
    return ImageFolderDataModule(path=str(root), image_size=[2, 2], channels=1, scaling=None, **kwargs)


def example_ids(dm, split):
    """Something that identifies each served example, per module."""
    inputs = dm.split(split)["inputs"].flatten(1)
    return sorted(tuple(np.round(x.numpy(), 4)) for x in inputs)


@pytest.mark.parametrize("make", ["iris", "csv", "image_folder"])
def test_data_modules_serve_the_asked_fold(tmp_path, make):
    build = {
        # unscaled: scaling is fitted on each fold's training split, so it differs between folds
        "iris": lambda **kw: iris_module(scaling=None, **kw),
        "csv": lambda **kw: table_module(tmp_path, **kw),
        "image_folder": lambda **kw: folder_module(tmp_path, **kw),
    }[make]
    plain = build()
    folds = [build(folds=3, fold=i) for i in range(3)]
    for dm in folds:
        assert example_ids(dm, "test") == example_ids(plain, "test")
    vals = [example_ids(dm, "val") for dm in folds]
    assert vals[0] != vals[1] != vals[2]
    n_rest = len(plain.split("train")["targets"]) + len(plain.split("val")["targets"])
    assert sum(len(v) for v in vals) == n_rest
    for dm, val in zip(folds, vals):
        assert len(dm.split("train")["targets"]) + len(val) == n_rest
        assert not set(val) & set(example_ids(dm, "train"))


def test_iris_fold_matches_split_indices():
    dm = iris_module(folds=5, fold=3, scaling=None)
    expected = split_indices(datasets.load_iris().target, 0.15, 0.15, seed=0, stratify=True, folds=5, fold=3)
    features = datasets.load_iris().data
    for split in ("train", "val", "test"):
        np.testing.assert_allclose(dm.split(split)["inputs"].numpy(), features[expected[split]], rtol=1e-6)


# -- through the real config ----------------------------------------------------------------


def test_one_fold_trains_end_to_end_through_the_config(tmp_path):
    run = build_from_overrides(tmp_path, "data=iris", "data.folds=5", "data.fold=4")
    sizes = {split: len(run.datamodule.split(split)["targets"]) for split in ("train", "val", "test")}
    # 150 rows: 23 test (15%, rounded up), and a fifth of the other 127 (25.4) for validation
    assert sizes["test"] == 23 and sizes["train"] + sizes["val"] == 127 and sizes["val"] in (25, 26)
    run.trainer.fit(run.task, datamodule=run.datamodule)
    assert np.isfinite(run.history.epochs[-1]["val/loss"])


def test_fold_out_of_range_through_the_config(tmp_path):
    with pytest.raises(ConfigError, match="data.fold must be one of 0..4"):
        build_from_overrides(tmp_path, "data=wine", "data.folds=5", "data.fold=5")


@pytest.mark.slow
def test_multirun_over_folds(dlrun, tmp_path):
    done = dlrun(
        "train", "-m", "data=iris", "data.folds=2", "data.fold=0,1", "debug=fast", "logger=none", "callbacks=none"
    )
    assert done.returncode == 0, done.stderr
    results = sorted((tmp_path / "outputs").rglob("results.json"))
    assert len(results) == 2
    overrides = [json.loads(p.read_text())["overrides"] for p in results]
    assert {next(x for x in o if x.startswith("data.fold=")) for o in overrides} == {"data.fold=0", "data.fold=1"}


def test_fashion_mnist_folds_split_the_training_images_and_keep_the_test_set(tmp_path):
    import torch

    from dlrun.data import FashionMNISTSmallDataModule

    plain = FashionMNISTSmallDataModule(scaling=None)  # scaling follows each fold's training split
    folds = [FashionMNISTSmallDataModule(scaling=None, folds=3, fold=i) for i in range(3)]
    val_ids = [set(map(bytes, m.split("val")["inputs"].numpy())) for m in folds]
    assert all(not (a & b) for i, a in enumerate(val_ids) for b in val_ids[i + 1 :])
    assert sum(len(v) for v in val_ids) == 5000
    for module in folds:
        assert torch.equal(module.split("test")["inputs"], plain.split("test")["inputs"])
