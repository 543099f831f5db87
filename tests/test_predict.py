"""`dlrun predict RUN_DIR INPUT`: a trained run's predictions on new data, preprocessed as in training.

Each slow test trains one tiny run through the CLI, then predicts through the CLI (in this process,
with typer's runner, stdin and stdout included) and compares the predictions
with what the test computes itself: the weights from weights.safetensors in a network it builds,
and the preprocessing done by hand with statistics of the training split it computes on its own.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from dlrun.checkpoints import load_weights
from dlrun.data.splits import split_indices

QUICK = ("debug=fast", "logger=none")
ATOL = 1e-5


def predict(*args: str, input: str | bytes | None = None):
    """`dlrun predict ARGS` through the CLI, in this process."""
    from dlrun.cli import app

    return CliRunner().invoke(app, ["predict", *map(str, args)], input=input)


def ok(result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def refused(result, *needles: str) -> None:
    assert result.exit_code == 2, (result.output, result.exception)
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.stderr, result.stderr


def rows(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text))


def train(dlrun, tmp_path: Path, name: str, *overrides: str) -> Path:
    done = dlrun("train", *overrides, *QUICK, f"hydra.run.dir={name}")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return tmp_path / name


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_weights(run / "checkpoints" / "weights.safetensors")


def mlp(run: Path, input_shape, outputs: int, hidden=(8,)):
    from dlrun.models import MLP

    model = MLP(input_shape=input_shape, num_outputs=outputs, hidden_sizes=list(hidden))
    model.load_state_dict(weights(run))
    return model.eval()


def softmax(logits: torch.Tensor) -> np.ndarray:
    return logits.double().softmax(dim=-1).numpy()


def probabilities_of(table: pd.DataFrame, classes) -> np.ndarray:
    return table[[f"prob_{c}" for c in classes]].to_numpy(dtype=np.float64)


# -- tables ------------------------------------------------------------------------------------


def _table(tmp_path: Path) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 150
    x1, x2 = rng.normal(size=n), rng.normal(size=n) * 3 + 5
    color = rng.choice(["red", "green", "blue"], n)
    label = np.where(x1 + (color == "red") > 0.5, "yes", np.where(x2 > 5, "maybe", "no"))
    table = pd.DataFrame({"x1": x1, "x2": x2, "color": color, "label": label})
    table.loc[[3, 40, 77], "x2"] = np.nan  # data.missing=mean fills them with the training mean
    table.to_csv(tmp_path / "houses.csv", index=False)
    return table


@pytest.mark.slow
def test_a_csv_table_run_predicts_as_its_preprocessing_and_weights_say(dlrun, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    table = _table(tmp_path)
    run = train(
        dlrun,
        tmp_path,
        "table_run",
        "data=csv",
        "data.path=houses.csv",
        "data.target=label",
        "data.missing=mean",
        "model=mlp",
        "model.hidden_sizes=[8]",
    )
    # By hand: classes sorted, the stratified seeded split, training means and standard deviations,
    # colours one-hot in sorted order.
    classes = sorted(set(table["label"]))
    codes = np.array([classes.index(v) for v in table["label"]])
    train_rows = split_indices(codes, 0.15, 0.15, seed=0, stratify=True)["train"]
    numeric = table[["x1", "x2"]].to_numpy(dtype=np.float64)
    filled_with = np.nanmean(numeric[train_rows], axis=0)
    numeric = np.where(np.isnan(numeric), filled_with, numeric)
    mean, std = numeric[train_rows].mean(axis=0), numeric[train_rows].std(axis=0)
    colours = sorted(set(table["color"]))

    new = pd.DataFrame(
        {
            "id": [101, 102, 103, 104],
            "color": ["red", "blue", "green", "blue"],
            "note": list("abcd"),
            "x2": [5.0, 1.0, np.nan, 9.0],
            "x1": [0.1, -2.0, 1.0, 0.5],
        }
    )  # other column order, extra columns, a gap
    new.to_csv("new.csv", index=False)
    x = np.column_stack([new["x1"], new["x2"].fillna(filled_with[1])])
    x = (x - mean) / std
    one_hot = np.eye(len(colours))[[colours.index(c) for c in new["color"]]]
    inputs = torch.as_tensor(np.concatenate([x, one_hot], axis=1), dtype=torch.float32)
    expected = softmax(mlp(run, (5,), 3)(inputs).detach())

    got = rows(ok(predict(run, "new.csv")))
    assert list(got.columns) == [*new.columns, "prediction", *(f"prob_{c}" for c in classes)]
    assert got["id"].tolist() == [101, 102, 103, 104] and got["note"].tolist() == list("abcd")
    np.testing.assert_allclose(probabilities_of(got, classes), expected, atol=ATOL)
    np.testing.assert_allclose(probabilities_of(got, classes).sum(axis=1), 1.0, atol=1e-9)
    assert got["prediction"].tolist() == [classes[i] for i in expected.argmax(axis=1)]

    # JSON Lines into a file, never over an existing one unless --force.
    assert ok(predict(run, "new.csv", "--output", "preds.jsonl")) == ""
    records = [json.loads(line) for line in Path("preds.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == [101, 102, 103, 104]
    np.testing.assert_allclose([[r["probabilities"][c] for c in classes] for r in records], expected, atol=ATOL)
    refused(predict(run, "new.csv", "--output", "preds.jsonl"), "exists already", "--force")
    ok(predict(run, "new.csv", "--output", "preds.jsonl", "--force", "--format", "csv"))
    assert Path("preds.jsonl").read_text().startswith("id,color")

    # The table on stdin, the predictions on stdout.
    piped = rows(ok(predict(run, "-", "--output", "-", input=new.to_csv(index=False))))
    np.testing.assert_allclose(probabilities_of(piped, classes), expected, atol=ATOL)

    new.drop(columns=["x2"]).to_csv("no_x2.csv", index=False)
    refused(predict(run, "no_x2.csv"), "no column 'x2'")
    new.assign(color=["red", "purple", "red", "red"]).to_csv("purple.csv", index=False)
    refused(predict(run, "purple.csv"), "'purple'", "blue, green, red")
    refused(predict(run, "houses.png"), "does not exist")
    Path("photo.png").write_bytes(b"\x89PNG")
    refused(predict(run, "photo.png"), "not a table")
    refused(predict(run, "new.csv", "--format", "xml"), "--format must be csv or jsonl")
    (run / "preprocessing.json").rename(tmp_path / "moved.json")
    refused(predict(run, "new.csv"), "has no preprocessing.json", "Train it again")


@pytest.mark.slow
def test_an_iris_run_reads_scikit_learns_feature_names_from_parquet(dlrun, tmp_path, monkeypatch):
    from sklearn.datasets import load_iris

    monkeypatch.chdir(tmp_path)
    run = train(dlrun, tmp_path, "iris_run", "data=iris", "model=mlp", "model.hidden_sizes=[8]")
    iris = load_iris()
    train_rows = split_indices(iris.target, 0.15, 0.15, seed=0, stratify=True)["train"]
    mean, std = iris.data[train_rows].mean(axis=0), iris.data[train_rows].std(axis=0)
    picked = [0, 60, 120, 149]
    new = pd.DataFrame(iris.data[picked], columns=iris.feature_names).assign(flower=["a", "b", "c", "d"])
    new.to_parquet("flowers.parquet")
    inputs = torch.as_tensor((iris.data[picked] - mean) / std, dtype=torch.float32)
    expected = softmax(mlp(run, (4,), 3)(inputs).detach())
    got = rows(ok(predict(run, "flowers.parquet")))
    names = list(iris.target_names)
    assert got["flower"].tolist() == ["a", "b", "c", "d"]
    np.testing.assert_allclose(probabilities_of(got, names), expected, atol=ATOL)
    assert got["prediction"].tolist() == [names[i] for i in expected.argmax(axis=1)]
    new.drop(columns=["petal width (cm)"]).to_csv("short.csv", index=False)
    refused(predict(run, "short.csv"), "no column 'petal width (cm)'")


# -- images ------------------------------------------------------------------------------------


def _write_images(root: Path, rng: np.random.Generator, size=(20, 24)) -> None:
    for name, level in (("cat", 60), ("dog", 190)):
        (root / name).mkdir(parents=True)
        for i in range(12):
            pixels = np.clip(rng.normal(level, 40, (*size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:02d}.png")


def _by_hand(path, size=(8, 8)) -> np.ndarray:
    with Image.open(path) as image:
        image = image.convert("RGB").resize((size[1], size[0]), Image.Resampling.BILINEAR)
        return (np.asarray(image, dtype=np.float32) / 255.0).transpose(2, 0, 1)


@pytest.mark.slow
def test_an_image_folder_run_predicts_files_folders_globs_and_stdin(dlrun, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(1)
    _write_images(tmp_path / "photos", rng)
    run = train(
        dlrun,
        tmp_path,
        "image_run",
        "data=image_folder",
        "data.path=photos",
        "data.image_size=[8,8]",
        "model=mlp",
        "model.hidden_sizes=[8]",
    )
    files = sorted((tmp_path / "photos" / "cat").glob("*.png")) + sorted((tmp_path / "photos" / "dog").glob("*.png"))
    labels = np.array([0] * 12 + [1] * 12)
    train_rows = split_indices(labels, 0.15, 0.15, seed=0, stratify=True)["train"]
    flat = np.stack([_by_hand(f).ravel() for f in files]).astype(np.float64)
    mean, std = flat[train_rows].mean(axis=0), flat[train_rows].std(axis=0)

    new = tmp_path / "new"
    new.mkdir()
    for i, level in enumerate((50, 200, 120)):  # another size, and JPEG as well as PNG
        pixels = np.clip(rng.normal(level, 40, (31, 29, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(new / (f"{i}.jpg" if i != 1 else f"{i}.png"))
    paths = sorted(new.iterdir())
    x = (np.stack([_by_hand(p).ravel() for p in paths]) - mean) / std
    logit = mlp(run, (3, 8, 8), 1)(torch.as_tensor(x, dtype=torch.float32).reshape(-1, 3, 8, 8)).detach()
    p_dog = logit.double().sigmoid().numpy()[:, 0]
    expected = np.stack([1 - p_dog, p_dog], axis=1)

    got = rows(ok(predict(run, "new")))
    assert got["path"].tolist() == [str(Path("new") / p.name) for p in paths]
    np.testing.assert_allclose(probabilities_of(got, ["cat", "dog"]), expected, atol=ATOL)
    np.testing.assert_allclose(probabilities_of(got, ["cat", "dog"]).sum(axis=1), 1.0, atol=1e-9)
    assert got["prediction"].tolist() == ["dog" if p > 0.5 else "cat" for p in p_dog]
    globbed = rows(ok(predict(run, "new/*.jpg")))
    assert globbed["path"].tolist() == ["new/0.jpg", "new/2.jpg"]
    one = rows(ok(predict(run, "-", input=(new / "1.png").read_bytes())))
    assert one["path"].tolist() == ["-"]
    np.testing.assert_allclose(probabilities_of(one, ["cat", "dog"]), expected[1:2], atol=ATOL)

    (new / "broken.png").write_bytes(b"this is no image")
    refused(predict(run, "new"), "Could not read the image", "broken.png")
    refused(predict(run, "nothing/*.png"), "matches no files")
    pd.DataFrame({"a": [1]}).to_csv("table.csv", index=False)
    refused(predict(run, "table.csv"), "trained on images")


def test_fashion_mnist_preprocessing_repeats_the_filters_and_scaling_exactly(tmp_path):
    from dlrun.data.fashion_mnist import SMALL_SUBSET, FashionMNISTSmallDataModule
    from dlrun.data.preprocessing_file import read_preprocessing
    from dlrun.predict.images import filtered_inputs
    from dlrun.predict.inputs import ImageSource

    data = FashionMNISTSmallDataModule(resize=[14, 14], blur=1.0, median=3, classes=[0, 7, 9])
    data.save_preprocessing(tmp_path)
    saved = read_preprocessing(tmp_path)
    assert saved["class_names"] == ["T-shirt/top", "Sneaker", "Ankle boot"] and saved["spec"]["input_shape"] == [
        1,
        14,
        14,
    ]
    with np.load(SMALL_SUBSET) as subset:
        images, labels = subset["test_images"], subset["test_labels"]
    kept = np.flatnonzero(np.isin(labels, [0, 7, 9]))[:5]
    sources = []
    for i in kept:
        Image.fromarray(images[i]).save(tmp_path / f"{i}.png")
        sources.append(ImageSource(str(i), path=tmp_path / f"{i}.png"))
    served = data.split("test")["inputs"][:5]
    assert torch.equal(filtered_inputs(saved, sources), served)


def test_digits_preprocessing_reads_pixel_columns_and_8x8_images(tmp_path):
    from sklearn.datasets import load_digits

    from dlrun.data.preprocessing_file import apply_scaler, read_preprocessing
    from dlrun.data.sklearn_tables import SklearnDataModule
    from dlrun.predict.images import digits_inputs
    from dlrun.predict.inputs import ImageSource

    data = SklearnDataModule(name="digits")
    data.save_preprocessing(tmp_path)
    saved = read_preprocessing(tmp_path)
    digits = load_digits()
    assert saved["kind"] == "image" and saved["features"][:2] == ["pixel_0_0", "pixel_0_1"]
    assert len(saved["features"]) == 64 and saved["class_names"] == [str(i) for i in range(10)]
    test_rows = split_indices(digits.target, 0.15, 0.15, seed=0, stratify=True)["test"]
    scaled = apply_scaler(saved["scaler"], digits.data[test_rows])
    assert torch.equal(torch.as_tensor(scaled, dtype=torch.float32).reshape(-1, 1, 8, 8), data.split("test")["inputs"])
    # Ink 0 or 16 survives the trip through 8-bit pixels exactly.
    ink = np.where(digits.images[:3] > 8, 16.0, 0.0)
    for i, image in enumerate(ink):
        Image.fromarray((image / 16 * 255).astype(np.uint8)).save(tmp_path / f"{i}.png")
    read = digits_inputs(saved, [ImageSource(str(i), path=tmp_path / f"{i}.png") for i in range(3)])
    expected = torch.as_tensor(apply_scaler(saved["scaler"], ink.reshape(3, 64)), dtype=torch.float32)
    torch.testing.assert_close(read, expected)


# -- text --------------------------------------------------------------------------------------

MOODS = {
    "up": ["good", "great", "fine", "love"],
    "down": ["bad", "awful", "poor", "hate"],
    "meh": ["okay", "so", "meh"],
}


@pytest.mark.slow
def test_a_text_run_predicts_lines_columns_and_stdin_with_its_vocabulary(dlrun, tmp_path, monkeypatch):
    from dlrun.models import RecurrentNet

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(2)
    labels = [list(MOODS)[i % 3] for i in range(90)]
    texts = [" ".join(rng.choice(MOODS[m], int(rng.integers(2, 6)))) + " movie" for m in labels]
    pd.DataFrame({"review": texts, "stars": labels}).to_csv("reviews.csv", index=False)
    run = train(
        dlrun,
        tmp_path,
        "text_run",
        "data=text_csv",
        "data.path=reviews.csv",
        "data.text_column=review",
        "data.label_column=stars",
        "data.min_freq=1",
        "model=lstm",
        "model.hidden_size=8",
        "model.embedding_size=8",
    )
    classes = sorted(MOODS)
    codes = np.array([classes.index(m) for m in labels])
    train_rows = split_indices(codes, 0.15, 0.15, seed=0, stratify=True)["train"]
    counts: dict[str, int] = {}
    for i in train_rows:
        for token in texts[i].split():
            counts[token] = counts.get(token, 0) + 1
    vocabulary = ["<pad>", "<unk>", *sorted(counts, key=lambda t: (-counts[t], t))]
    ids = {t: i for i, t in enumerate(vocabulary)}
    longest = max(len(texts[i].split()) for i in train_rows)
    model = RecurrentNet(
        input_shape=(longest,),
        num_outputs=3,
        cell="lstm",
        hidden_size=8,
        embedding_size=8,
        vocab_size=len(vocabulary),
        pad_id=0,
    )
    model.load_state_dict(weights(run))
    model.eval()

    new = ["Good GREAT movie", "awful", "okay so what", "love " * 12 + "bad"]  # unknown words; one too long

    def by_hand(text: str) -> np.ndarray:
        encoded = [ids.get(t, 1) for t in text.lower().split()[:longest]]
        with torch.no_grad():
            return softmax(model(torch.tensor([encoded]), lengths=torch.tensor([len(encoded)])))[0]

    expected = np.stack([by_hand(t) for t in new])

    Path("new.txt").write_text("\n".join([new[0], "", *new[1:]]) + "\n")  # blank lines are skipped
    got = rows(ok(predict(run, "new.txt")))
    assert got["text"].tolist() == new
    np.testing.assert_allclose(probabilities_of(got, classes), expected, atol=ATOL)
    np.testing.assert_allclose(probabilities_of(got, classes).sum(axis=1), 1.0, atol=1e-9)
    assert got["prediction"].tolist() == [classes[i] for i in expected.argmax(axis=1)]
    piped = rows(ok(predict(run, "-", input="\n".join(new))))
    np.testing.assert_allclose(probabilities_of(piped, classes), expected, atol=ATOL)
    pd.DataFrame({"key": [1, 2, 3, 4], "body": new}).to_csv("new.csv", index=False)
    columns = rows(ok(predict(run, "new.csv", "--column", "body")))
    assert columns["key"].tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(probabilities_of(columns, classes), expected, atol=ATOL)

    refused(predict(run, "new.csv"), "--column NAME", "key, body")
    refused(predict(run, "new.csv", "--column", "bdy"), "not a column", "Did you mean body?")
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save("picture.png")
    refused(predict(run, "picture.png"), "not a UTF-8 text file")


# -- series ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_series_run_forecasts_the_steps_after_the_last_window(dlrun, tmp_path, monkeypatch):
    from dlrun.models import RecurrentNet

    monkeypatch.chdir(tmp_path)
    day = np.arange(120)
    series = pd.DataFrame({"day": day, "value": np.sin(day / 5) * 10 + day * 0.1, "other": np.cos(day / 7)})
    series.to_csv("sales.csv", index=False)
    run = train(
        dlrun,
        tmp_path,
        "series_run",
        "data=series_csv",
        "data.path=sales.csv",
        "data.target=value",
        "data.time_column=day",
        "data.features=[other]",
        "data.lookback=10",
        "data.horizon=3",
        "model=gru",
        "model.hidden_size=8",
    )
    values = series[["value", "other"]].to_numpy()
    train_part = values[: 120 - 18 - 18]  # chronological: 15% validation, then 15% test
    mean, std = train_part.mean(axis=0), train_part.std(axis=0)
    model = RecurrentNet(input_shape=(10, 2), num_outputs=3, cell="gru", hidden_size=8)
    model.load_state_dict(weights(run))
    model.eval()

    recent = series.iloc[80:].copy()
    recent.loc[115, "value"] = np.nan  # a gap, interpolated
    recent = recent.sample(frac=1.0, random_state=0)  # any order: sorted by the run's time column
    recent.to_csv("recent.csv", index=False)
    window = values[-10:].copy()
    window[5, 0] = (values[114, 0] + values[116, 0]) / 2
    with torch.no_grad():
        scaled = model(torch.as_tensor((window - mean) / std, dtype=torch.float32)[None])
    expected = scaled.double().numpy()[0] * std[0] + mean[0]

    got = rows(ok(predict(run, "recent.csv")))
    assert got["step"].tolist() == [1, 2, 3] and got["time"].tolist() == [120, 121, 122]
    np.testing.assert_allclose(got["prediction"].to_numpy(), expected, atol=1e-4)
    lines = ok(predict(run, "-", "--format", "jsonl", input=recent.to_csv(index=False))).splitlines()
    np.testing.assert_allclose([json.loads(line)["prediction"] for line in lines], expected, atol=1e-4)

    recent.head(6).to_csv("short.csv", index=False)
    refused(predict(run, "short.csv"), "at least 10 rows")
    recent.drop(columns=["other"]).to_csv("no_other.csv", index=False)
    refused(predict(run, "no_other.csv"), "no column 'other'")
    for change, needle in (("", "has no value in"), ("soon", "holds 'soon'"), (110, "repeats the time 110")):
        bad = recent.astype({"day": object})
        bad.iloc[0, bad.columns.get_loc("day")] = np.nan if change == "" else change
        bad.to_csv("bad_time.csv", index=False)
        refused(predict(run, "bad_time.csv"), "Column 'day'", needle)


# -- sequence to sequence ------------------------------------------------------------------------


@pytest.mark.slow
def test_a_seq2seq_run_decodes_each_line_as_translate_does(dlrun, tmp_path, monkeypatch):
    from dlrun.cli import app

    monkeypatch.chdir(tmp_path)
    run = train(
        dlrun,
        tmp_path,
        "copy_run",
        "data=copy",
        "model=seq2seq",
        "data.min_length=2",
        "data.max_length=4",
        "data.vocab_size=5",
        "data.train_size=300",
        "data.val_size=20",
        "data.test_size=20",
        "model.hidden_size=16",
        "model.embedding_size=8",
    )
    sources = ["1 2 3", "4 0", "3 3 1 0"]
    Path("sources.txt").write_text("\n".join(sources) + "\n\n")
    translated = CliRunner().invoke(app, ["translate", str(run), *sources])
    assert translated.exit_code == 0, translated.output
    got = pd.read_csv(io.StringIO(ok(predict(run, "sources.txt"))), dtype=str, keep_default_na=False)
    assert got["source"].tolist() == sources
    assert got["prediction"].tolist() == translated.stdout.split("\n")[:3]
    records = [
        json.loads(line) for line in ok(predict(run, "-", "--format", "jsonl", input="\n".join(sources))).splitlines()
    ]
    assert [r["prediction"] for r in records] == translated.stdout.split("\n")[:3]
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save("picture.png")
    refused(predict(run, "picture.png"), "not a UTF-8 text file")


def test_refusals_that_need_no_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused(predict("nowhere", "input.csv"), "does not exist")
    Path("input.csv").write_text("a\n1\n")
    refused(predict("nowhere", "input.csv"), "The run dir 'nowhere' does not exist")
    Path("plain").mkdir()
    refused(predict("plain", "input.csv"), "is not a dlrun run dir")
    Path("out.csv").write_text("taken\n")
    refused(predict("nowhere", "input.csv", "--output", "out.csv"), "exists already")
    refused(predict("nowhere", "input.csv", "--output", "missing/out.csv"), "does not exist; create it first")
    assert Path("out.csv").read_text() == "taken\n"
