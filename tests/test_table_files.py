"""dlrun.data.table_files: the table reader and the numeric-column parser that training (data=csv,
series_csv, text_csv) and `dlrun predict` share, checked on tables written by hand."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dlrun.data.table_files import NotANumber, UnreadableTable, numeric_column, numeric_matrix, parse_table, read_table
from dlrun.errors import ConfigError


def test_a_csv_and_a_tsv_are_read_with_string_column_names(tmp_path):
    (tmp_path / "t.csv").write_text("a,2\n1,x\n3,y\n")
    (tmp_path / "t.tsv").write_text("a\t2\n1\tx\n3\ty\n")
    for name, kind in (("t.csv", "CSV"), ("t.tsv", "TSV")):
        table = parse_table(tmp_path / name, kind, ConfigError)
        assert list(table.columns) == ["a", "2"]
        assert table["a"].tolist() == [1, 3] and table["2"].tolist() == ["x", "y"]


def test_a_parquet_file_is_read_with_rows_numbered_from_zero(tmp_path):
    stored = pd.DataFrame({"a": [1.5, 2.5, 3.5], 7: ["x", "y", "z"]}, index=[10, 20, 30])
    stored.columns = stored.columns.astype(str)
    stored.to_parquet(tmp_path / "t.parquet")
    table = parse_table(tmp_path / "t.parquet", "Parquet", ConfigError)
    assert list(table.columns) == ["a", "7"]
    assert list(table.index) == [0, 1, 2]  # not the 10, 20, 30 the file stored
    assert table["a"].tolist() == [1.5, 2.5, 3.5]


def test_an_open_text_file_is_read_as_csv():
    table = parse_table(io.StringIO("x,y\n1,2\n"), "CSV", ConfigError)
    assert table.to_dict("list") == {"x": [1], "y": [2]}


def test_an_empty_file_is_an_empty_table_and_a_broken_one_unreadable(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    assert parse_table(tmp_path / "empty.csv", "CSV", ConfigError).empty
    (tmp_path / "broken.parquet").write_text("not parquet")
    with pytest.raises(UnreadableTable):
        parse_table(tmp_path / "broken.parquet", "Parquet", ConfigError)


def test_training_words_its_own_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    missing = re.escape(f"data.path 'gone.csv' does not exist (relative paths start from {tmp_path}).")
    with pytest.raises(ConfigError, match=f"^{missing} Point data.path at your CSV or Parquet file.$"):
        read_table(Path("gone.csv"))
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ConfigError, match=r"^The table '.*empty.csv' \(data.path\) is empty"):
        read_table(tmp_path / "empty.csv")
    (tmp_path / "broken.parquet").write_text("not parquet")
    with pytest.raises(ConfigError, match=r"^Could not read '.*broken.parquet' \(data.path\) as Parquet: "):
        read_table(tmp_path / "broken.parquet")


def test_a_numeric_column_parses_numbers_written_as_text_and_keeps_gaps():
    table = pd.DataFrame({"n": [1, 2, 3], "text": ["1.5", None, "-2"], "flag": [True, False, True]})
    assert numeric_column(table, "n").tolist() == [1.0, 2.0, 3.0]
    parsed = numeric_column(table, "text")
    assert parsed.dtype == np.float64 and parsed[0] == 1.5 and np.isnan(parsed[1]) and parsed[2] == -2.0
    assert numeric_column(table, "flag").tolist() == [1.0, 0.0, 1.0]
    matrix = numeric_matrix(table, ["n", "flag"])
    assert matrix.tolist() == [[1.0, 1.0], [2.0, 0.0], [3.0, 1.0]]
    assert numeric_matrix(table, []).shape == (3, 0)


def test_a_value_that_is_not_a_number_is_named_by_column_row_and_value():
    table = pd.DataFrame({"good": [1.0, 2.0, 3.0], "bad": ["1", None, "three"]})
    with pytest.raises(NotANumber) as caught:
        numeric_matrix(table, ["good", "bad"])
    problem = caught.value
    assert (problem.column, problem.position, problem.value) == ("bad", 2, "three")
