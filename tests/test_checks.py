"""dlrun.checks: the path check and the number check that data modules, tasks, callbacks and
training settings share; each raises the caller's error with the caller's name for the value."""

from __future__ import annotations

import numpy as np
import pytest

from dlrun.checks import check_exists, check_number, missing_path
from dlrun.errors import ConfigError, DlrunError


def test_a_missing_relative_path_names_the_working_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        check_exists("tables/houses.csv", "data.path", "Point data.path at your CSV file.")
    assert str(caught.value) == (
        f"data.path 'tables/houses.csv' does not exist (relative paths start from {tmp_path}). "
        "Point data.path at your CSV file."
    )


def test_an_existing_file_or_folder_passes(tmp_path):
    (tmp_path / "houses.csv").write_text("a\n1\n")
    check_exists(tmp_path / "houses.csv", "data.path")
    check_exists(str(tmp_path), "data.path")


def test_the_path_error_is_the_callers_class_and_the_hint_is_optional(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    error = missing_path("INPUT", "new.csv", error=DlrunError)
    assert type(error) is DlrunError
    assert str(error) == f"INPUT 'new.csv' does not exist (relative paths start from {tmp_path})."
    with pytest.raises(ValueError, match="^--config-dir 'conf' does not exist"):
        check_exists("conf", "--config-dir", error=ValueError)


@pytest.mark.parametrize(
    "value, bounds, message",
    [
        (0, dict(at_least=1, whole=True, unit="steps"), "data.x must be a whole number of steps, at least 1; got 0."),
        (2.5, dict(at_least=1, whole=True), "data.x must be a whole number, at least 1; got 2.5."),
        (True, dict(at_least=0, whole=True), "data.x must be a whole number, at least 0; got True."),
        (0.0, dict(above=0), "data.x must be a positive number; got 0.0."),
        (0, dict(above=0, unit="dB"), "data.x must be a positive number of dB; got 0."),
        (1, dict(above=0, below=1), "data.x must be a number above 0 and below 1; got 1."),
        (
            1.5,
            dict(at_least=0, at_most=1, meaning="0 = none"),
            "data.x must be a number between 0 and 1 (0 = none); got 1.5.",
        ),
        (1.0, dict(at_least=0, below=1), "data.x must be a number, at least 0 and below 1; got 1.0."),
        (3, dict(above=0.5, at_most=2), "data.x must be a number above 0.5 and at most 2; got 3."),
        (2000000, dict(at_most=1000000, whole=True), "data.x must be a whole number at most 1000000; got 2000000."),
        (
            "many",
            dict(at_least=1, whole=True, null_means="for no limit"),
            "data.x must be a whole number, at least 1, or null for no limit; got 'many'.",
        ),
        (float("inf"), dict(above=0), "data.x must be a positive number; got inf."),
        (float("nan"), dict(), "data.x must be a number; got nan."),
        (None, dict(above=0), "data.x must be a positive number; got None."),
        (
            0,
            dict(at_least=2, whole=True, hint="(One marker goes in each half.)"),
            "data.x must be a whole number, at least 2; got 0. (One marker goes in each half.)",
        ),
    ],
)
def test_a_number_out_of_bounds_says_what_it_must_be_and_what_it_got(value, bounds, message):
    with pytest.raises(ConfigError) as caught:
        check_number("data.x", value, **bounds)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "value, bounds",
    [
        (1, dict(at_least=1, whole=True)),
        (np.int64(3), dict(at_least=1, whole=True)),
        (0.5, dict(above=0, below=1)),
        (np.float32(0.25), dict(above=0, below=1)),
        (0, dict(at_least=0, at_most=1)),
        (1, dict(at_least=0, at_most=1)),
        (None, dict(at_least=1, whole=True, null_means="for no limit")),
        (-7.5, dict()),
    ],
)
def test_a_number_within_bounds_passes(value, bounds):
    check_number("data.x", value, **bounds)


def test_the_number_error_is_the_callers_class():
    with pytest.raises(ValueError, match=r"^scheduler.gamma must be a positive number; got -0.5\.$"):
        check_number("scheduler.gamma", -0.5, above=0, error=ValueError)
