"""data=csv: users' CSV/Parquet tables, checked against values computed by hand from the table.

Most tables carry a `row` column (the row number) as a numeric feature served unscaled, so each
served example can be traced back to its row and compared with what the table says.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import build_from_overrides

from dlrun.data import TableDataModule
from dlrun.data.splits import split_indices
from dlrun.errors import ConfigError

COLORS = ["red", "green", "blue", "red", "red"]  # red is the most frequent on every split


def make_table(n: int = 40) -> pd.DataFrame:
    rows = np.arange(n)
    return pd.DataFrame(
        {
            "row": rows,
            "size": (rows**2).astype(float),  # train and overall means differ
            "color": [COLORS[i % len(COLORS)] for i in rows],
            "label": ["cat" if i % 4 else "dog" for i in rows],  # 30 cat, 10 dog
        }
    )


def write(tmp_path, table: pd.DataFrame, name: str = "table.csv"):
    path = tmp_path / name
    if name.endswith(".parquet"):
        table.to_parquet(path)
    else:
        table.to_csv(path, index=False)
    return path


def module(path, **kwargs) -> TableDataModule:
    kwargs.setdefault("target", "label")
    kwargs.setdefault("scaling", None)
    return TableDataModule(path=str(path), **kwargs)


def served(dm: TableDataModule) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per split: the row numbers (first input column) and every input column."""
    out = {}
    for split in ("train", "val", "test"):
        inputs = dm.split(split)["inputs"].numpy().astype(np.float64)
        out[split] = (inputs[:, 0].round().astype(int), inputs)
    return out


def config_error(dm_or_callable) -> str:
    with pytest.raises(ConfigError) as info:
        dm_or_callable() if callable(dm_or_callable) else dm_or_callable.setup()
    return str(info.value)


# -- encoding -------------------------------------------------------------------------------


def test_one_hot_columns_follow_the_sorted_categories(tmp_path):
    table = make_table()
    dm = module(write(tmp_path, table))
    assert dm.spec.feature_names == ("row", "size", "color=blue", "color=green", "color=red")
    assert dm.spec.input_shape == (5,)
    assert dm.spec.categorical_cardinalities == ()
    seen = []
    for rows, inputs in served(dm).values():
        seen += list(rows)
        for row, x in zip(rows, inputs):
            expected_one_hot = [table.color[row] == c for c in ("blue", "green", "red")]
            assert x[1] == table["size"][row]
            assert x[2:].tolist() == [float(v) for v in expected_one_hot]
    assert sorted(seen) == list(range(len(table)))


def test_embedded_serves_integer_codes_after_the_numeric_features(tmp_path):
    table = make_table()
    dm = module(write(tmp_path, table), categorical_encoding="embedded")
    assert dm.spec.feature_names == ("row", "size", "color")
    assert dm.spec.categorical_cardinalities == (3,)
    codes = {"blue": 0, "green": 1, "red": 2}
    for rows, inputs in served(dm).values():
        assert inputs[:, 2].tolist() == [codes[table.color[r]] for r in rows]


def test_declared_categorical_numeric_column_is_one_hot_encoded(tmp_path):
    table = make_table().assign(grade=lambda t: t.row % 3 + 1)
    dm = module(write(tmp_path, table), categorical=["grade"], features=["row", "grade"])
    assert dm.spec.feature_names == ("row", "grade=1", "grade=2", "grade=3")
    for rows, inputs in served(dm).values():
        assert inputs[:, 1:].argmax(axis=1).tolist() == [r % 3 for r in rows]


def test_features_selects_and_orders_the_columns(tmp_path):
    dm = module(write(tmp_path, make_table()), features=["size", "row"])
    assert dm.spec.feature_names == ("size", "row")
    assert dm.spec.input_shape == (2,)


def test_standard_scaling_uses_the_training_rows_only(tmp_path):
    table = make_table()
    dm = module(write(tmp_path, table), scaling="standard", features=["size", "row"])
    train_rows = split_indices(np.array([0 if i % 4 else 1 for i in range(40)]), 0.15, 0.15, 0, True)["train"]
    mean, std = table["size"][train_rows].mean(), table["size"][train_rows].std(ddof=0)
    for split in ("train", "val", "test"):
        x = dm.split(split)["inputs"].numpy().astype(np.float64)
        rows = np.rint(x[:, 1] * table.row[train_rows].std(ddof=0) + table.row[train_rows].mean()).astype(int)
        np.testing.assert_allclose(x[:, 0], (table["size"][rows] - mean) / std, rtol=1e-5, atol=1e-5)


# -- missing values -------------------------------------------------------------------------


def with_gaps() -> pd.DataFrame:
    table = make_table()
    table.loc[[5, 17, 30], "size"] = np.nan
    table.loc[9, "color"] = np.nan
    table.loc[22, "label"] = np.nan
    return table


def test_missing_error_names_file_column_and_first_row(tmp_path):
    message = config_error(module(write(tmp_path, with_gaps(), "gappy.csv")))
    assert "gappy.csv" in message and "'size'" in message
    assert "data row 6" in message  # row index 5 is the sixth data row
    assert "data.missing=drop" in message and "data.missing=mean" in message


def test_missing_drop_removes_exactly_the_incomplete_rows(tmp_path):
    dm = module(write(tmp_path, with_gaps()), missing="drop")
    rows = sorted(r for rows, _ in served(dm).values() for r in rows)
    assert rows == [r for r in range(40) if r not in (5, 9, 17, 22, 30)]


def test_missing_mean_fills_with_training_means_and_modes(tmp_path):
    table = with_gaps()
    dm = module(write(tmp_path, table), missing="mean")
    splits = served(dm)
    rows = sorted(r for rows, _ in splits.values() for r in rows)
    assert rows == [r for r in range(40) if r != 22]  # only the row without a label is dropped
    train_rows = splits["train"][0]
    train_mean = table["size"][train_rows].mean()  # pandas skips the gaps
    assert train_mean != pytest.approx(table["size"].mean())  # so the check below can tell them apart
    filled = 0
    for rows, inputs in splits.values():
        for row, x in zip(rows, inputs):
            if row in (5, 17, 30):
                assert x[1] == pytest.approx(train_mean)
                filled += 1
            if row == 9:  # the missing color becomes red, the most frequent training color
                assert x[2:].tolist() == [0.0, 0.0, 1.0]
    assert filled == 3


# -- task detection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "task", "num_classes", "class_names"),
    [
        (["cat", "dog"] * 15, "binary", 2, ("cat", "dog")),
        (["a", "b", "c"] * 10, "multiclass", 3, ("a", "b", "c")),
        ([3, 1, 2] * 10, "multiclass", 3, ("1", "2", "3")),
        ([True, False] * 15, "binary", 2, ("False", "True")),
        ([0.5, 1.25, 2.0] * 10, "regression", 0, ()),
        (list(range(30)), "regression", 0, ()),  # whole numbers, but more than 20 distinct values
    ],
)
def test_task_auto_detection(tmp_path, target, task, num_classes, class_names):
    table = pd.DataFrame({"x": np.arange(30.0), "y": target})
    dm = module(write(tmp_path, table), target="y")
    assert (dm.spec.task, dm.spec.num_classes, dm.spec.class_names) == (task, num_classes, class_names)
    assert dm.spec.num_outputs == (num_classes if task == "multiclass" else 1)


def test_class_labels_are_codes_of_the_sorted_classes(tmp_path):
    table = make_table()
    dm = module(write(tmp_path, table))
    for split in ("train", "val", "test"):
        rows = dm.split(split)["inputs"][:, 0].round().long().numpy()
        expected = [("cat", "dog").index(table.label[r]) for r in rows]
        assert dm.split(split)["targets"].tolist() == expected
        assert dm.split(split)["targets"].dtype == torch.int64


def test_regression_targets_are_standardized_with_training_statistics(tmp_path):
    table = make_table().assign(price=lambda t: 3.0 * t.row + 0.5)
    dm = module(write(tmp_path, table), target="price", features=["row"])
    train_rows = dm.split("train")["inputs"][:, 0].round().long().numpy()
    mean, std = table.price[train_rows].mean(), table.price[train_rows].std(ddof=0)
    assert (dm.spec.task, dm.spec.target_mean, dm.spec.target_std) == (
        "regression",
        pytest.approx(mean),
        pytest.approx(std),
    )
    for split in ("train", "val", "test"):
        rows = dm.split(split)["inputs"][:, 0].round().long().numpy()
        np.testing.assert_allclose(dm.split(split)["targets"].numpy(), (table.price[rows] - mean) / std, rtol=1e-5)


def test_explicit_target_kind_overrides_detection_and_is_checked(tmp_path):
    table = make_table().assign(level=lambda t: t.row % 3)
    path = write(tmp_path, table)
    assert module(path, target="level", target_kind="regression", features=["row"]).spec.task == "regression"
    assert module(path, target="level", features=["row"]).spec.task == "multiclass"
    message = config_error(module(path, target="level", target_kind="binary", features=["row"]))
    assert "2 classes" in message and "'level'" in message and "table.csv" in message
    message = config_error(module(path, target="color", target_kind="regression", features=["row"]))
    assert "numeric target" in message and "'color'" in message


def test_classification_split_is_stratified(tmp_path):
    table = make_table()  # 30 cat, 10 dog
    dm = module(write(tmp_path, table), val_fraction=0.25, test_fraction=0.25)
    codes = (table.label == "dog").to_numpy().astype(int)
    expected = split_indices(codes, 0.25, 0.25, seed=0, stratify=True)
    assert expected["test"].tolist() != split_indices(codes, 0.25, 0.25, seed=0, stratify=False)["test"].tolist()
    for split, (rows, _) in served(dm).items():
        assert sorted(rows) == expected[split].tolist()
        dogs = sum(table.label[r] == "dog" for r in rows)
        assert abs(dogs - len(rows) / 4) <= 0.5  # a quarter of the rows are dogs


# -- formats --------------------------------------------------------------------------------


def test_parquet_serves_the_same_as_csv(tmp_path):
    table = with_gaps()
    from_csv = module(write(tmp_path, table), missing="mean")
    from_parquet = module(write(tmp_path, table, "table.parquet"), missing="mean")
    assert from_parquet.spec == from_csv.spec
    for split in ("train", "val", "test"):
        for key in ("inputs", "targets"):
            assert torch.equal(from_parquet.split(split)[key], from_csv.split(split)[key])


def test_parquet_rows_are_numbered_by_position_whatever_index_it_stored(tmp_path):
    table = with_gaps().set_index(pd.Index([f"id{i}" for i in range(40)]))
    message = config_error(module(write(tmp_path, table, "gappy.parquet")))
    assert "gappy.parquet" in message and "'size'" in message and "data row 6" in message


# -- errors: one paragraph naming the file and the column -----------------------------------


def test_missing_file(tmp_path):
    message = config_error(module(tmp_path / "nowhere.csv"))
    assert "nowhere.csv" in message and "does not exist" in message


def test_unreadable_files(tmp_path):
    (tmp_path / "broken.parquet").write_text("this is not parquet")
    message = config_error(module(tmp_path / "broken.parquet"))
    assert "broken.parquet" in message and "Parquet" in message
    (tmp_path / "ragged.csv").write_text("a,b,label\n1,2,x\n3,4,y,5,6\n")
    message = config_error(module(tmp_path / "ragged.csv"))
    assert "ragged.csv" in message and "CSV" in message
    (tmp_path / "table.xlsx").write_text("")
    message = config_error(module(tmp_path / "table.xlsx"))
    assert "table.xlsx" in message and ".parquet" in message


@pytest.mark.parametrize("content", ["", "row,size,label\n"])
def test_empty_table(tmp_path, content):
    (tmp_path / "empty.csv").write_text(content)
    message = config_error(module(tmp_path / "empty.csv"))
    assert "empty.csv" in message and "empty" in message


def test_missing_target_lists_the_columns_and_suggests_one(tmp_path):
    message = config_error(module(write(tmp_path, make_table()), target="lable"))
    assert "'lable'" in message and "table.csv" in message
    assert "row, size, color, label" in message and "Did you mean label?" in message
    message = config_error(module(write(tmp_path, make_table()), target=None))
    assert "data.target is not set" in message and "row, size, color, label" in message


def test_unknown_feature_column(tmp_path):
    message = config_error(module(write(tmp_path, make_table()), features=["row", "sise"]))
    assert "'sise'" in message and "table.csv" in message and "Did you mean size?" in message


def test_non_numeric_feature_not_declared_categorical(tmp_path):
    message = config_error(module(write(tmp_path, make_table()), categorical=[]))
    assert "'color'" in message and "table.csv" in message
    assert "'red'" in message and "data row 1" in message and "data.categorical" in message


def test_auto_refuses_to_encode_free_text_but_a_declared_list_does(tmp_path):
    table = make_table().assign(name=lambda t: [f"person {i}" for i in t.row])
    message = config_error(module(write(tmp_path, table)))
    assert "'name'" in message and "table.csv" in message and "'person 0'" in message
    dm = module(write(tmp_path, table), categorical=["color", "name"], categorical_encoding="embedded")
    assert dm.spec.categorical_cardinalities == (3, 40)


def test_bad_choices_suggest_the_closest(tmp_path):
    path = write(tmp_path, make_table())
    assert "Did you mean drop?" in config_error(lambda: module(path, missing="dorp"))
    assert "Did you mean one_hot?" in config_error(lambda: module(path, categorical_encoding="onehot"))
    assert "Did you mean regression?" in config_error(lambda: module(path, target_kind="regresion"))


# -- through the real config ----------------------------------------------------------------


def test_csv_trains_end_to_end_through_the_config(tmp_path):
    path = write(tmp_path, with_gaps())
    run = build_from_overrides(tmp_path, "data=csv", f"data.path={path}", "data.target=label", "data.missing=mean")
    assert run.datamodule.spec.task == "binary"
    assert run.datamodule.spec.input_shape == (5,)
    run.trainer.fit(run.task, datamodule=run.datamodule)
    assert run.trainer.current_epoch == 1
    assert np.isfinite(run.history.epochs[-1]["val/loss"])


def test_csv_config_errors_are_config_errors(tmp_path):
    path = write(tmp_path, make_table())
    with pytest.raises(ConfigError, match="Did you mean label"):
        build_from_overrides(tmp_path, "data=csv", f"data.path={path}", "data.target=labl")


def test_cli_bad_path_exits_2_without_traceback(dlrun):
    done = dlrun("train", "data=csv", "data.path=missing.csv", "data.target=y")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "missing.csv" in done.stderr
