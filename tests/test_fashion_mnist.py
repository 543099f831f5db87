"""Fashion-MNIST: the IDX reader, the full set read from IDX files, the bundled subset, class
selection, preprocessing through the data module, and augmentation of training batches only."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import build_from_overrides, make_trainer

from dlrun.data import FashionMNISTDataModule, FashionMNISTSmallDataModule
from dlrun.data.fashion_mnist import CLASS_NAMES, DEBIAN_ROOT, IDX_FILES, SMALL_SUBSET
from dlrun.data.idx import read_idx
from dlrun.data.image_ops import gaussian_blur, median_filter, resize
from dlrun.errors import ConfigError

DEBIAN_FILES = all((Path(DEBIAN_ROOT) / f"{name}.gz").is_file() for pair in IDX_FILES.values() for name in pair)


def write_idx(path: Path, array: np.ndarray, type_code: int = 0x08) -> None:
    """An IDX file written byte by byte: 0, 0, type code, number of dimensions, sizes, values."""
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    data = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


@pytest.fixture(scope="module")
def subset():
    with np.load(SMALL_SUBSET) as arrays:
        return {key: arrays[key] for key in arrays.files}


# -- the IDX reader ----------------------------------------------------------------------------


def test_idx_reader_on_a_hand_written_gz_file(tmp_path):
    data = bytes([0, 0, 0x08, 3]) + struct.pack(">III", 2, 3, 4) + bytes(range(24))
    (tmp_path / "images-idx3-ubyte.gz").write_bytes(gzip.compress(data))
    images = read_idx(tmp_path / "images-idx3-ubyte.gz")
    assert images.dtype == np.uint8
    assert np.array_equal(images, np.arange(24).reshape(2, 3, 4))

    labels = bytes([0, 0, 0x08, 1]) + struct.pack(">I", 3) + bytes([7, 0, 9])
    (tmp_path / "labels-idx1-ubyte").write_bytes(labels)  # not gzipped
    assert read_idx(tmp_path / "labels-idx1-ubyte").tolist() == [7, 0, 9]


def test_idx_reader_reads_big_endian_integers(tmp_path):
    data = bytes([0, 0, 0x0C, 1]) + struct.pack(">I", 2) + bytes([0, 0, 1, 2, 0xFF, 0xFF, 0xFF, 0xFE])
    (tmp_path / "ints.idx").write_bytes(data)
    assert read_idx(tmp_path / "ints.idx").tolist() == [258, -2]


def test_idx_reader_names_truncated_and_foreign_files(tmp_path):
    (tmp_path / "short.gz").write_bytes(gzip.compress(bytes([0, 0, 8, 2]) + struct.pack(">II", 2, 2) + bytes(3)))
    with pytest.raises(ConfigError, match="short.gz is truncated or corrupt.*shape \\(2, 2\\)"):
        read_idx(tmp_path / "short.gz")
    (tmp_path / "photo.gz").write_bytes(gzip.compress(b"\x89PNG\r\n"))
    with pytest.raises(ConfigError, match="photo.gz is not an IDX file"):
        read_idx(tmp_path / "photo.gz")
    (tmp_path / "plain.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ConfigError, match="Could not read the IDX file"):
        read_idx(tmp_path / "plain.gz")


# -- the full set, from IDX files ------------------------------------------------------------


def fake_root(tmp_path: Path, per_class=(12, 3)) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The four Fashion-MNIST files, tiny and random, in tmp_path; returns what they hold."""
    rng = np.random.default_rng(0)
    written = {}
    for (split, (images_name, labels_name)), count in zip(IDX_FILES.items(), per_class, strict=True):
        labels = rng.permutation(np.repeat(np.arange(10), count)).astype(np.uint8)
        images = rng.integers(0, 256, (len(labels), 28, 28), dtype=np.uint8)
        write_idx(tmp_path / f"{images_name}.gz", images)
        write_idx(tmp_path / f"{labels_name}.gz", labels)
        written[split] = (images, labels)
    return written


def rows(images: torch.Tensor) -> list[bytes]:
    return sorted(image.numpy().tobytes() for image in images)


def test_full_set_reads_the_idx_files_in_root(tmp_path):
    written = fake_root(tmp_path)
    dm = FashionMNISTDataModule(root=str(tmp_path), scaling=None, val_fraction=1 / 6)
    assert dm.spec.input_shape == (1, 28, 28) and dm.spec.class_names == CLASS_NAMES
    train, val, test = dm.split("train"), dm.split("val"), dm.split("test")
    assert (len(train["targets"]), len(val["targets"]), len(test["targets"])) == (100, 20, 30)
    assert torch.bincount(val["targets"]).tolist() == [2] * 10  # stratified
    test_images, test_labels = written["test"]
    assert torch.equal(test["inputs"][:, 0], torch.from_numpy(test_images).float())  # in the published order
    assert test["targets"].tolist() == test_labels.tolist()
    # Training and validation together are exactly the training file, each image with its label.
    train_images, train_labels = written["train"]
    served = torch.cat([train["inputs"], val["inputs"]])[:, 0]
    assert rows(served) == rows(torch.from_numpy(train_images).float())
    label_of = {
        image.tobytes(): int(label) for image, label in zip(train_images.astype(np.float32), train_labels, strict=True)
    }
    served_labels = torch.cat([train["targets"], val["targets"]]).tolist()
    assert [label_of[image.numpy().tobytes()] for image in served] == served_labels


def test_missing_files_name_the_install_command_and_the_alternatives(tmp_path):
    with pytest.raises(ConfigError) as error:
        build_from_overrides(tmp_path, "data=fashion_mnist", f"data.root={tmp_path}/nowhere")
    message = str(error.value)
    expected = [
        f"{tmp_path}/nowhere",
        "train-images-idx3-ubyte.gz",
        "apt-get install dataset-fashion-mnist",
        "data.root=",
        "data=fashion_mnist_small",
    ]
    assert [part for part in expected if part not in message] == []


@pytest.mark.skipif(not DEBIAN_FILES, reason=f"dataset-fashion-mnist is not installed ({DEBIAN_ROOT})")
def test_real_full_set_and_the_subset_drawn_from_it(subset):
    dm = FashionMNISTDataModule(scaling=None)
    counts = [len(dm.split(s)["targets"]) for s in ("train", "val", "test")]
    assert counts == [54_000, 6_000, 10_000]
    assert torch.bincount(dm.split("test")["targets"]).tolist() == [1000] * 10
    # The bundled subset is the full set at the indices it records (scripts/make_fashion_mnist_small.py).
    raw = FashionMNISTDataModule().raw()
    for split in ("train", "test"):
        images, labels = raw[split]
        assert np.array_equal(images[subset[f"{split}_index"]], subset[f"{split}_images"])
        assert np.array_equal(labels[subset[f"{split}_index"]], subset[f"{split}_labels"])


# -- the bundled subset ------------------------------------------------------------------------


def test_subset_file_is_small_uint8_and_stratified(subset):
    assert SMALL_SUBSET.stat().st_size < 3_000_000
    notice = (SMALL_SUBSET.parent / "fashion_mnist_small.LICENSE").read_text()
    assert "Copyright © 2017 Zalando SE" in notice and "Permission is hereby granted" in notice
    assert subset["train_images"].shape == (5000, 28, 28) and subset["train_images"].dtype == np.uint8
    assert subset["test_images"].shape == (1000, 28, 28) and subset["test_labels"].dtype == np.int64
    assert np.bincount(subset["train_labels"]).tolist() == [500] * 10
    assert np.bincount(subset["test_labels"]).tolist() == [100] * 10


def test_small_shapes_counts_classes_and_stratified_validation(subset):
    dm = FashionMNISTSmallDataModule()
    spec = dm.spec
    assert spec.task == "multiclass" and spec.input_shape == (1, 28, 28) and spec.num_classes == 10
    assert spec.class_names[:3] == ("T-shirt/top", "Trouser", "Pullover") and spec.class_names[9] == "Ankle boot"
    train, val, test = dm.split("train"), dm.split("val"), dm.split("test")
    assert train["inputs"].shape == (4500, 1, 28, 28) and train["inputs"].dtype == torch.float32
    assert train["targets"].dtype == torch.int64
    assert torch.bincount(train["targets"]).tolist() == [450] * 10
    assert torch.bincount(val["targets"]).tolist() == [50] * 10
    assert torch.bincount(test["targets"]).tolist() == [100] * 10
    # Standardized with the mean and std of the training pixels, not of validation's too.
    pixels = FashionMNISTSmallDataModule(scaling=None).split("train")["inputs"].double()
    mean, std = float(pixels.mean()), float(pixels.std(correction=0))
    all_5000 = subset["train_images"].mean()
    assert abs(mean - all_5000) / std > 5e-4  # 25 times the tolerance below: the check can tell them apart
    expected_test = (subset["test_images"].astype(np.float64) - mean) / std
    np.testing.assert_allclose(test["inputs"][:, 0].numpy(), expected_test, rtol=0, atol=2e-5)


def test_split_seed_and_val_fraction_change_the_validation_split():
    base = FashionMNISTSmallDataModule(scaling=None).split("val")["inputs"]
    other_seed = FashionMNISTSmallDataModule(scaling=None, split_seed=1).split("val")["inputs"]
    assert rows(base) != rows(other_seed)
    assert len(FashionMNISTSmallDataModule(val_fraction=0.2).split("val")["inputs"]) == 1000


def test_classes_keeps_and_relabels_in_the_given_order(subset):
    dm = FashionMNISTSmallDataModule(classes=[7, 2, 5], scaling=None)
    assert dm.spec.num_classes == 3 and dm.spec.class_names == ("Sneaker", "Pullover", "Sandal")
    test = dm.split("test")
    assert torch.bincount(test["targets"]).tolist() == [100, 100, 100]
    for new, old in enumerate([7, 2, 5]):
        expected = subset["test_images"][subset["test_labels"] == old]
        assert np.array_equal(test["inputs"][test["targets"] == new, 0].numpy(), expected)
    assert torch.bincount(dm.split("train")["targets"]).tolist() == [450] * 3


@pytest.mark.parametrize("classes", [[3], [1, 1], [0, 10], ["Bag", "Coat"]])
def test_bad_classes_are_config_errors(classes):
    with pytest.raises(ConfigError, match="data.classes.*0 T-shirt/top"):
        FashionMNISTSmallDataModule(classes=classes)


@pytest.mark.parametrize(
    ("options", "op"),
    [
        (dict(resize=[32, 24]), lambda x: resize(x, [32, 24])),
        (dict(median=3), lambda x: median_filter(x, 3)),
        (dict(blur=1.0), lambda x: gaussian_blur(x, 1.0)),
    ],
)
def test_preprocessing_options_reach_every_split(subset, options, op):
    dm = FashionMNISTSmallDataModule(scaling=None, **options)
    expected = op(torch.from_numpy(subset["test_images"][:, None]).float())
    assert dm.spec.input_shape == tuple(expected.shape[1:])
    assert torch.allclose(dm.split("test")["inputs"], expected, atol=1e-4)
    assert dm.split("train")["inputs"].shape[1:] == expected.shape[1:]


# -- augmentation: training batches only -------------------------------------------------------

AUGMENTATIONS = [
    {"crop_padding": 2},
    {"hflip": 1.0},
    {"rotate_degrees": 15.0},
    {"noise_std": 0.1},
    {"brightness": 0.3},
    {"contrast": 0.3},
]


@pytest.mark.parametrize("augment", AUGMENTATIONS, ids=lambda a: next(iter(a)))
def test_augmentation_changes_training_batches_only(tmp_path, augment):
    torch.manual_seed(0)
    dm = FashionMNISTSmallDataModule(augment=augment, batch_size=32, steps_per_execution=4)
    dm.trainer = trainer = make_trainer(tmp_path)
    stored = dm.split("train")["inputs"].clone()
    group = next(iter(dm.train_dataloader()))
    originals = [batch["inputs"].clone() for batch in group]

    trainer.training = True
    augmented = dm.on_after_batch_transfer(group, 0)
    assert len(augmented) == 4
    for batch, original in zip(augmented, originals, strict=True):
        assert batch["inputs"].shape == original.shape
        assert not torch.equal(batch["inputs"], original)
    assert torch.equal(dm.split("train")["inputs"], stored)  # the split itself is never changed

    for stage, loader in (("validating", dm.val_dataloader()), ("testing", dm.test_dataloader())):
        setattr(trainer, stage, True)
        for batch in (group, next(iter(loader))):
            assert dm.on_after_batch_transfer(batch, 0) is batch


def test_padding_fills_with_black_after_scaling(tmp_path):
    dm = FashionMNISTSmallDataModule(augment={"crop_padding": 4})
    dm.setup()  # loading fits the scaling, and with it the value black takes
    black = float(dm.augmentation.fill)
    assert black == pytest.approx(float(dm.split("train")["inputs"].min()))  # raw 0 is the darkest pixel
    assert black < -0.5


def test_fit_on_the_small_set_with_augmentation(tmp_path):
    options = ["crop_padding=2", "hflip=0.5", "rotate_degrees=10", "noise_std=0.1", "brightness=0.2", "contrast=0.2"]
    run = build_from_overrides(
        tmp_path,
        "data=fashion_mnist_small",
        "model=cnn",
        "model.channels=[8,16]",
        "model.head_sizes=[32]",
        *[f"data.augment.{option}" for option in options],
    )
    augment, stages = run.datamodule.augmentation, []
    assert (augment.crop_padding, augment.hflip, augment.contrast) == (2, 0.5, 0.2)

    def spy(batch):
        stages.append(run.trainer.training)
        return augment(batch)

    run.datamodule.augmentation = spy
    run.trainer.fit(run.task, datamodule=run.datamodule)
    assert stages == [True] * 5  # debug=fast: five training batches of one step each; validation untouched
    assert run.trainer.global_step == 5
    assert torch.isfinite(torch.as_tensor(run.trainer.callback_metrics["val/loss"]))
