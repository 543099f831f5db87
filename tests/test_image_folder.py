"""data=image_folder: one subfolder of PNG/JPEG images per class, on images generated here.

Every generated image is one flat color: class k lights channel k only, with an intensity that is
different for each image, so a served example can be traced back to its class and its file.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import build_from_overrides
from PIL import Image

from dlrun.data import ImageFolderDataModule
from dlrun.data.splits import split_indices
from dlrun.errors import ConfigError

CLASSES = ("apple", "banana", "cherry")  # created out of order below; served sorted
PER_CLASS = 5


def intensity(i: int) -> int:
    return 100 + 30 * i


def make_folder(root, classes=("cherry", "apple", "banana"), per_class=PER_CLASS):
    """PNGs for the first class given, JPEGs for the others, of varying sizes."""
    for k, name in enumerate(sorted(classes)):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            color = [0, 0, 0]
            color[k] = intensity(i)
            image = Image.new("RGB", (10 + i, 7 + 2 * i), tuple(color))
            suffix = ".png" if name == sorted(classes)[0] else (".jpg" if i % 2 else ".jpeg")
            image.save(folder / f"img{i}{suffix}")
    return root


def module(path, **kwargs) -> ImageFolderDataModule:
    kwargs.setdefault("image_size", [6, 4])
    kwargs.setdefault("scaling", None)
    kwargs.setdefault("val_fraction", 0.2)
    kwargs.setdefault("test_fraction", 0.2)
    return ImageFolderDataModule(path=str(path), **kwargs)


def config_error(make) -> str:
    with pytest.raises(ConfigError) as info:
        make().setup()
    return str(info.value)


def file_index(image: torch.Tensor) -> tuple[int, int]:
    """(class, image number) read back from a served flat-colored RGB image in [0, 1]."""
    means = image.mean(dim=(1, 2)) * 255
    k = int(means.argmax())
    return k, round((float(means[k]) - 100) / 30)


def test_shapes_spec_and_resize(tmp_path):
    dm = module(make_folder(tmp_path / "fruit"))
    assert dm.spec.task == "multiclass"
    assert dm.spec.class_names == CLASSES
    assert dm.spec.num_classes == 3
    assert dm.spec.input_shape == (3, 6, 4)  # channels, height, width
    sizes = {split: len(dm.split(split)["inputs"]) for split in ("train", "val", "test")}
    assert sizes == {"train": 9, "val": 3, "test": 3}
    assert dm.split("train")["inputs"].dtype == torch.float32


def test_labels_follow_the_sorted_folder_names_and_pixels_are_kept(tmp_path):
    dm = module(make_folder(tmp_path / "fruit"))
    seen = set()
    for split in ("train", "val", "test"):
        batch = dm.split(split)
        for image, label in zip(batch["inputs"], batch["targets"]):
            k, i = file_index(image)
            assert int(label) == k  # the lit channel is the class's index among the sorted names
            expected = torch.zeros(3, 6, 4)
            expected[k] = intensity(i) / 255
            # PNG is lossless; JPEG moves a flat color by a few levels at most.
            atol = 1e-6 if k == 0 else 4 / 255
            torch.testing.assert_close(image, expected, atol=atol, rtol=0)
            seen.add((k, i))
    assert seen == {(k, i) for k in range(3) for i in range(PER_CLASS)}


def test_split_is_stratified_and_seeded(tmp_path):
    dm = module(make_folder(tmp_path / "fruit"), split_seed=3)
    labels = np.repeat(np.arange(3), PER_CLASS)  # files in folder order, then name order
    expected = split_indices(labels, 0.2, 0.2, seed=3, stratify=True)
    for split in ("train", "val", "test"):
        files = sorted(k * PER_CLASS + i for k, i in map(file_index, dm.split(split)["inputs"]))
        assert files == expected[split].tolist()
    assert sorted(dm.split("test")["targets"].tolist()) == [0, 1, 2]


def test_resize_keeps_orientation(tmp_path):
    for k, name in enumerate(("dark_left", "dark_right")):
        (tmp_path / "halves" / name).mkdir(parents=True)
        for i in range(PER_CLASS):
            pixels = np.full((10, 20), 255, dtype=np.uint8)
            pixels[:, :10] = 0
            Image.fromarray(pixels if k == 0 else pixels[:, ::-1].copy()).save(tmp_path / "halves" / name / f"{i}.png")
    dm = module(tmp_path / "halves", image_size=[4, 6], channels=1)
    assert dm.spec.input_shape == (1, 4, 6)
    assert dm.spec.task == "binary"  # two class folders
    # Bilinear (triangle) filter widened by the scale 20/6 = 3.33: output column 2 is centered on
    # source x = 8.33 and weighs source columns 5..11 by 0.15, 0.45, 0.75, 0.95, 0.65, 0.35, 0.05;
    # columns 10 and 11 are light, so it is 0.40 / 3.35 = 0.119 of white, i.e. 30 of 255.
    expected = torch.tensor([0, 0, 30, 225, 255, 255]) / 255
    for split in ("train", "val", "test"):
        for image, label in zip(dm.split(split)["inputs"], dm.split(split)["targets"]):
            upright = image[0] if label == 0 else image[0].flip(1)
            torch.testing.assert_close(upright, expected.expand(4, 6), atol=1.01 / 255, rtol=0)


def test_grayscale_uses_the_luma_weights(tmp_path):
    dm = module(make_folder(tmp_path / "fruit"), channels=1)
    assert dm.spec.input_shape == (1, 6, 4)
    weights = (0.299, 0.587, 0.114)  # ITU-R 601-2 luma, which Pillow's "L" conversion uses
    for split in ("train", "val", "test"):
        for image, label in zip(dm.split(split)["inputs"], dm.split(split)["targets"]):
            k = int(label)
            value = float(image.mean()) * 255
            # Each image number gives a distinct gray; the closest one must belong to this class.
            candidates = [weights[k] * intensity(i) for i in range(PER_CLASS)]
            assert min(abs(value - c) for c in candidates) <= 4


def test_standard_scaling_is_per_pixel_and_fitted_on_train(tmp_path):
    raw = module(make_folder(tmp_path / "fruit"))
    scaled = module(tmp_path / "fruit", scaling="standard")
    train = raw.split("train")["inputs"].double().flatten(1)
    mean, std = train.mean(0), train.std(0, unbiased=False)
    for split in ("train", "val", "test"):
        x = raw.split(split)["inputs"].double().flatten(1)
        expected = (x - mean) / std
        torch.testing.assert_close(scaled.split(split)["inputs"].double().flatten(1), expected, atol=1e-5, rtol=1e-5)


# -- errors: one paragraph naming the folder or file ----------------------------------------


def test_missing_path(tmp_path):
    message = config_error(lambda: module(tmp_path / "nowhere"))
    assert "nowhere" in message and "does not exist" in message


def test_no_class_subfolders(tmp_path):
    (tmp_path / "flat").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "flat" / "a.png")
    message = config_error(lambda: module(tmp_path / "flat"))
    assert "flat" in message and "subfolder per class" in message


def test_class_folder_without_images(tmp_path):
    root = make_folder(tmp_path / "fruit")
    (root / "durian").mkdir()
    (root / "durian" / "notes.txt").write_text("not an image")
    message = config_error(lambda: module(root))
    assert "durian" in message and "no images" in message


def test_unreadable_image_names_the_file(tmp_path):
    root = make_folder(tmp_path / "fruit")
    (root / "banana" / ".checkpoints").mkdir()
    (root / "banana" / ".checkpoints" / "hidden.png").write_text("hidden folders are skipped")
    (root / "banana" / "._img0.png").write_text("so are hidden files")
    assert len(module(root).split("train")["targets"]) == 9
    (root / "banana" / "broken.png").write_text("not a png")
    message = config_error(lambda: module(root))
    assert "broken.png" in message and "banana" in message


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"channels": 2}, "data.channels"),
        ({"image_size": [8]}, "data.image_size"),
        ({"image_size": [8, 0]}, "data.image_size"),
    ],
)
def test_bad_settings(tmp_path, kwargs, needle):
    assert needle in config_error(lambda: module(tmp_path, **kwargs))


# -- through the real config ----------------------------------------------------------------


def test_image_folder_trains_a_cnn_end_to_end_through_the_config(tmp_path):
    root = make_folder(tmp_path / "fruit")
    run = build_from_overrides(tmp_path, "data=image_folder", f"data.path={root}", "data.image_size=[8,8]", "model=cnn")
    assert run.datamodule.spec.input_shape == (3, 8, 8)
    run.trainer.fit(run.task, datamodule=run.datamodule)
    assert run.trainer.current_epoch == 1
    assert np.isfinite(run.history.epochs[-1]["val/loss"])
