"""Time-series forecasting data: windows, chronological split, scaling, gaps, baselines, errors.

Most series here are y_t = t (or built from t), so a served value, unscaled, says which position of
the series it came from, and every check of windows and boundaries is a check of positions.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torchmetrics import MeanAbsolutePercentageError

from dlrun.config.compose import first_comment
from dlrun.config.location import config_dir
from dlrun.data import Co2DataModule, SeriesCSVDataModule, SeriesDataModule, SunspotsDataModule
from dlrun.data.series.baselines import forecast_errors, naive_scale, seasonal_naive_forecast
from dlrun.data.series.bundled import CO2_CSV, SUNSPOTS_CSV
from dlrun.data.series.values import interpolate_gaps, observed_span
from dlrun.data.series.windows import split_bounds
from dlrun.errors import ConfigError


class FrameSeries(SeriesDataModule):
    """A series held in a DataFrame, for tests."""

    def __init__(self, frame: pd.DataFrame, target="y", features=(), time_column=None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.frame, self.target, self.features, self.time_column = frame, target, list(features), time_column

    source = "the test frame"

    def read_frame(self) -> pd.DataFrame:
        return self.frame


def counting(n: int, **kwargs) -> FrameSeries:
    return FrameSeries(pd.DataFrame({"y": np.arange(n, dtype=float)}), **kwargs)


def unscaled(dm: SeriesDataModule, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The split's target-column inputs (N, lookback) and targets (N, horizon) in original units."""
    batch = dm.split(split)
    mean, std = dm.spec.target_mean, dm.spec.target_std
    inputs = batch["inputs"][:, :, 0].double().numpy() * std + mean
    targets = batch["targets"].double().numpy() * std + mean
    return inputs, targets


def config_error(make) -> str:
    with pytest.raises(ConfigError) as info:
        make().setup()
    return str(info.value)


# -- windows and the split ------------------------------------------------------------------


def test_windows_of_a_counting_series_hold_exactly_the_positions_they_should():
    dm = counting(100, lookback=5, horizon=2, val_fraction=0.15, test_fraction=0.15)
    assert split_bounds(100, 0.15, 0.15) == {"train": (0, 70), "val": (70, 85), "test": (85, 100)}
    spec = dm.spec
    assert spec.task == "forecasting"
    assert spec.input_shape == (5, 1) and spec.max_length == 5 and spec.horizon == 2 and spec.num_outputs == 2
    first_origin = {"train": 5, "val": 70, "test": 85}  # val and test inputs reach back into the part before
    last_origin = {"train": 68, "val": 83, "test": 98}
    for split in ("train", "val", "test"):
        batch = dm.split(split)
        assert batch["inputs"].dtype == torch.float32 and batch["targets"].dtype == torch.float32
        inputs, targets = unscaled(dm, split)
        origins = np.arange(first_origin[split], last_origin[split] + 1)
        assert batch["inputs"].shape == (len(origins), 5, 1) and batch["targets"].shape == (len(origins), 2)
        expected_inputs = origins[:, None] + np.arange(-5, 0)
        expected_targets = origins[:, None] + np.arange(2)
        np.testing.assert_allclose(inputs, expected_inputs, atol=1e-4)
        np.testing.assert_allclose(targets, expected_targets, atol=1e-4)
    inputs, targets = unscaled(dm, "val")
    np.testing.assert_allclose(inputs[0], [65, 66, 67, 68, 69], atol=1e-4)
    np.testing.assert_allclose(targets[0], [70, 71], atol=1e-4)


@pytest.mark.parametrize(
    "lookback, horizon, fractions", [(5, 2, (0.15, 0.15)), (1, 1, (0.2, 0.1)), (12, 7, (0.25, 0.3))]
)
def test_no_target_crosses_a_boundary_and_later_parts_only_forecast_later_steps(lookback, horizon, fractions):
    n = 120
    val_fraction, test_fraction = fractions
    dm = counting(n, lookback=lookback, horizon=horizon, val_fraction=val_fraction, test_fraction=test_fraction)
    bounds = split_bounds(n, val_fraction, test_fraction)
    positions = {}
    for split in ("train", "val", "test"):
        inputs, targets = unscaled(dm, split)
        targets = np.rint(targets).astype(int)
        start, end = bounds[split]
        assert targets.min() >= start and targets.max() < end, split  # wholly inside its own part
        # Every possible window of the part is served, once, in time order.
        assert len(targets) == end - max(start, lookback) - horizon + 1
        assert (np.diff(targets[:, 0]) == 1).all()
        assert (inputs < targets[:, :1] - 0.5).all()  # every input is before every target
        assert (np.rint(inputs[:, -1]) == targets[:, 0] - 1).all()  # inputs end right before the targets
        if split == "train":
            assert np.rint(inputs).min() >= 0 and np.rint(inputs).max() < bounds["train"][1]
        positions[split] = targets
    assert positions["train"].max() < positions["val"].min()
    assert positions["val"].max() < positions["test"].min()
    assert positions["train"].max() < positions["test"].min()


def test_test_series_maps_each_test_window_to_its_times_and_true_values(tmp_path):
    dm = SunspotsDataModule()
    view = dm.test_series()
    assert view.name == "SUNACTIVITY"
    table = pd.read_csv(SUNSPOTS_CSV)
    start, end = split_bounds(309, 0.15, 0.15)["test"]
    assert view.start == start and len(view.time) == len(view.values) == end - start
    np.testing.assert_array_equal(view.time, table.YEAR.to_numpy()[start:end])
    np.testing.assert_array_equal(view.values, table.SUNACTIVITY.to_numpy()[start:end])
    _, targets = unscaled(dm, "test")
    assert view.targets.shape == targets.shape
    np.testing.assert_allclose(view.values[view.targets], targets, atol=1e-3)
    # Dates stay dates.
    co2 = Co2DataModule().test_series()
    assert co2.time.dtype.kind == "M" and str(co2.time[-1])[:10] == "2001-12-29"


# -- scaling, gaps ------------------------------------------------------------------------------


def test_scaling_uses_the_training_part_only_for_every_column():
    n = 80
    t = np.arange(n, dtype=float)
    frame = pd.DataFrame({"y": t**1.5, "x": np.sin(t) + t / 10})
    dm = FrameSeries(frame, features=["x"], lookback=4, horizon=3)
    train = frame.iloc[: split_bounds(n, 0.15, 0.15)["train"][1]]
    assert dm.spec.input_shape == (4, 2)
    assert dm.spec.target_mean == pytest.approx(train.y.mean())
    assert dm.spec.target_std == pytest.approx(np.std(train.y.to_numpy()))  # population std, as StandardScaler
    assert abs(dm.spec.target_mean - frame.y.mean()) > 1  # the whole series would give another
    batch = dm.split("test")
    first = 68  # the first test origin: 80 - 12
    expected_x = (frame.x.to_numpy()[first - 4 : first] - train.x.mean()) / np.std(train.x.to_numpy())
    expected_y = (frame.y.to_numpy()[first : first + 3] - train.y.mean()) / np.std(train.y.to_numpy())
    np.testing.assert_allclose(batch["inputs"][0, :, 1].numpy(), expected_x, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batch["targets"][0].numpy(), expected_y, rtol=1e-5, atol=1e-6)


def test_gaps_are_interpolated_inside_and_the_ends_trimmed(tmp_path):
    nan = math.nan
    values = np.array([[nan, 0.0], [1.0, nan], [nan, 2.0], [nan, nan], [4.0, 8.0], [nan, 10.0]])
    filled = interpolate_gaps(values)
    np.testing.assert_allclose(filled[1:5, 0], [1, 2, 3, 4])
    np.testing.assert_allclose(filled[:, 1], [0, 1, 2, 5, 8, 10])
    assert np.isnan(filled[0, 0]) and np.isnan(filled[5, 0])  # never extrapolated
    assert observed_span(filled) == (1, 5)

    y = np.arange(40, dtype=float)
    y[[0, 10, 11, 12, 39]] = nan
    path = tmp_path / "gappy.csv"
    pd.DataFrame({"y": y}).to_csv(path, index=False)
    dm = SeriesCSVDataModule(path=str(path), target="y", lookback=3, horizon=1)
    dm.save_preprocessing(tmp_path)
    assert json.loads((tmp_path / "series.json").read_text())["steps"] == 38  # rows 1..38
    inputs, _ = unscaled(dm, "train")
    # The first window starts at row 1; rows 10-12 are filled in on the line from 9 to 13.
    np.testing.assert_allclose(inputs[0], [1, 2, 3], atol=1e-4)
    np.testing.assert_allclose(inputs[8], [9, 10, 11], atol=1e-4)


# -- baselines --------------------------------------------------------------------------------


def seasonal_series(n: int = 40) -> np.ndarray:
    """A trend plus a season of 4: 0, 5, 0, -5."""
    return np.array([t + (0, 5, 0, -5)[t % 4] for t in range(n)], dtype=float)


def test_baselines_match_a_hand_computation_on_the_same_test_windows():
    y = seasonal_series()
    dm = FrameSeries(pd.DataFrame({"y": y}), lookback=4, horizon=3, season=4, val_fraction=0.2, test_fraction=0.2)
    # 40 steps: train 0..23, val 24..31, test 32..39; test origins t = 32..37.
    assert dm.spec.naive_scale == pytest.approx(4.0)  # |y_t - y_(t-4)| = 4 on every training step
    naive_errors, seasonal_errors, truths = [], [], []
    for t in range(32, 38):
        for h in range(3):
            truth = y[t + h]
            truths.append(truth)
            naive_errors.append(y[t - 1] - truth)
            seasonal_errors.append(y[t + h - 4] - truth)  # h + 1 <= 3 < 4: one season back
    expected = {}
    for name, errors in (("naive", np.array(naive_errors)), ("seasonal_naive", np.array(seasonal_errors))):
        mae = np.abs(errors).mean()
        expected[name] = {
            "test/mae": mae,
            "test/rmse": np.sqrt((errors**2).mean()),
            "test/mape": (np.abs(errors) / np.abs(truths)).mean() * 100,
            "test/mase": mae / 4.0,
        }
    got = dm.baselines()
    assert set(got) == {"naive", "seasonal_naive"}
    for name in expected:
        assert set(got[name]) == set(expected[name])
        for key, value in expected[name].items():
            assert got[name][key] == pytest.approx(value), (name, key)
    assert got["seasonal_naive"]["test/mae"] == pytest.approx(4.0)  # a trend of 1 a step, 4 steps back
    # Without a season: naive only, and MASE scaled by the one-step naive on the training part.
    plain = FrameSeries(pd.DataFrame({"y": y}), lookback=4, horizon=3, val_fraction=0.2, test_fraction=0.2)
    scale = np.abs(np.diff(y[:24])).mean()
    assert plain.spec.naive_scale == pytest.approx(scale)
    assert set(plain.baselines()) == {"naive"}
    assert plain.baselines()["naive"]["test/mase"] == pytest.approx(expected["naive"]["test/mae"] / scale)


def test_seasonal_naive_beyond_one_season_reads_the_last_season_of_the_inputs():
    y = np.arange(20, dtype=float) * 10
    # season 2, horizon 5, origin 10: steps 10, 11, 12, 13, 14 take 8, 9, 8, 9, 8 (never after 9).
    np.testing.assert_array_equal(seasonal_naive_forecast(y, np.array([10]), 5, 2), [[80, 90, 80, 90, 80]])
    # season 3, horizon 4, origin 6: 3, 4, 5, then 3 again.
    np.testing.assert_array_equal(seasonal_naive_forecast(y, np.array([6]), 4, 3), [[30, 40, 50, 30]])
    assert naive_scale(np.array([1.0, 2.0, 4.0, 7.0]), 2) == pytest.approx(4.0)  # |4-1|, |7-2|


def test_mape_matches_torchmetrics_including_zero_targets():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(50, 3))
    truth[0, 0] = 0.0
    prediction = truth + rng.normal(size=(50, 3))
    reference = MeanAbsolutePercentageError()(torch.as_tensor(prediction), torch.as_tensor(truth)).item() * 100
    got = forecast_errors(prediction, truth, scale=2.0)
    assert got["test/mape"] == pytest.approx(reference, rel=1e-6)  # its state is float32
    assert got["test/mape"] > 1e4  # the zero target counts, its error divided by 1.17e-06
    # Targets below the epsilon are clamped to it, not shifted by it.
    assert forecast_errors([[1.0]], [[1e-7]], scale=1.0)["test/mape"] == pytest.approx((1.0 - 1e-7) / 1.17e-06 * 100)
    assert got["test/mase"] == pytest.approx(np.abs(prediction - truth).mean() / 2.0)
    assert set(forecast_errors(prediction, truth, scale=0.0)) == {"test/mae", "test/rmse", "test/mape"}


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(lookback=0), "data.lookback"),
        (dict(horizon=0), "data.horizon"),
        (dict(lookback=2.5), "data.lookback"),
        (dict(season=0), "data.season"),
        (dict(lookback=6, season=12), "data.lookback=6 is shorter than data.season=12"),
        (dict(val_fraction=0.5, test_fraction=0.5), "data.val_fraction + data.test_fraction"),
    ],
)
def test_bad_settings_are_config_errors_naming_the_key(kwargs, words):
    assert words in config_error(lambda: counting(100, **kwargs))


def test_a_series_too_short_for_one_window_names_the_lengths():
    message = config_error(lambda: counting(10, lookback=8, horizon=3))
    assert "has 10 steps" in message and "8 + 3 = 11" in message and "Lower data.lookback" in message
    message = config_error(lambda: counting(14, lookback=8, horizon=3))  # train part: 10 steps
    assert "training part" in message and "10 of its 14 steps" in message and "data.lookback" in message
    # 40 steps: 4 test steps, fewer than the horizon
    message = config_error(lambda: counting(40, lookback=4, horizon=8, val_fraction=0.3, test_fraction=0.1))
    assert "test part" in message and "data.horizon=8" in message and "data.test_fraction" in message


def test_csv_errors_name_the_column_the_row_and_a_fix(tmp_path):
    path = tmp_path / "series.csv"
    sales = [str(v) for v in range(50)]
    sales[7] = "n/a?"
    pd.DataFrame({"day": pd.date_range("2024-01-01", periods=50).strftime("%Y-%m-%d"), "sales": sales}).to_csv(
        path, index=False
    )
    message = config_error(lambda: SeriesCSVDataModule(path=str(path), target="sales", lookback=3))
    assert "Column 'sales'" in message and "'n/a?'" in message and "data row 8" in message

    pd.DataFrame({"day": range(50), "sales": range(50)}).to_csv(path, index=False)
    message = config_error(lambda: SeriesCSVDataModule(path=str(path), target="sale", lookback=3))
    assert "data.target 'sale'" in message and "Columns: day, sales" in message and "Did you mean sales?" in message
    message = config_error(lambda: SeriesCSVDataModule(path=str(path), target="sales", features=["dya"], lookback=3))
    assert "data.features 'dya'" in message and "Did you mean day?" in message
    message = config_error(lambda: SeriesCSVDataModule(path=str(path), target="sales", time_column="time", lookback=3))
    assert "data.time_column 'time'" in message
    message = config_error(lambda: SeriesCSVDataModule(target="sales"))
    assert "data.path is not set" in message and "dlrun train data=series_csv data.path=" in message
    message = config_error(lambda: SeriesCSVDataModule(path=str(tmp_path / "nothing.csv"), target="sales"))
    assert "does not exist" in message


def test_csv_rows_are_sorted_by_the_time_column_and_extra_features_are_served(tmp_path):
    days = pd.date_range("2024-01-01", periods=60)
    frame = pd.DataFrame({"when": days.strftime("%Y-%m-%d"), "y": np.arange(60.0), "x": np.arange(60.0) * -2})
    path = tmp_path / "shuffled.csv"
    frame.sample(frac=1.0, random_state=0).to_csv(path, index=False)
    dm = SeriesCSVDataModule(path=str(path), target="y", time_column="when", features="x", lookback=4, horizon=2)
    inputs, targets = unscaled(dm, "train")
    np.testing.assert_allclose(inputs[0], [0, 1, 2, 3], atol=1e-4)
    np.testing.assert_allclose(targets[-1], [40, 41], atol=1e-4)  # train part: 60 - 9 - 9 = 42 steps
    assert dm.spec.input_shape == (4, 2)
    view = dm.test_series()
    assert view.time[0] == np.datetime64("2024-02-21") and view.values[0] == 51.0
    frame.iloc[[0, 1, 1]].to_csv(path, index=False)
    message = config_error(lambda: SeriesCSVDataModule(path=str(path), target="y", time_column="when", lookback=1))
    assert "repeats the time 2024-01-02" in message and "data row 3" in message


# -- the bundled series and their configs ---------------------------------------------------------


def test_bundled_series_hold_the_values_statsmodels_gives(tmp_path):
    co2 = pd.read_csv(CO2_CSV)
    assert len(co2) == 2284 and int(co2.co2.isna().sum()) == 59
    assert (co2.date.iloc[0], co2.co2.iloc[0]) == ("1958-03-29", 316.1)
    assert (co2.date.iloc[1000], co2.co2.iloc[1000]) == ("1977-05-28", 336.7)
    assert (co2.date.iloc[-1], co2.co2.iloc[-1]) == ("2001-12-29", 371.5)
    assert co2.date.iloc[6] == "1958-05-10" and math.isnan(co2.co2.iloc[6])
    sun = pd.read_csv(SUNSPOTS_CSV)
    assert len(sun) == 309 and not sun.SUNACTIVITY.isna().any()
    assert sun.set_index("YEAR").SUNACTIVITY.loc[[1700, 1800, 2008]].tolist() == [5.0, 14.5, 2.9]
    assert sun.YEAR[sun.SUNACTIVITY == 0].tolist() == [1711, 1712, 1810]

    for dm, steps, name in ((Co2DataModule(), 2284, "co2"), (SunspotsDataModule(), 309, "sunspots")):
        dm.save_preprocessing(tmp_path / name)
        saved = json.loads((tmp_path / name / "series.json").read_text())
        assert saved["steps"] == steps and saved["columns"] == [dm.target]
        assert saved["lookback"] == dm.lookback and saved["horizon"] == dm.horizon and saved["season"] == dm.season
        assert saved["scaler"]["mean"][dm.target] == pytest.approx(dm.spec.target_mean)
        assert saved["scaler"]["std"][dm.target] == pytest.approx(dm.spec.target_std)
    # The gap of 1958-05-10 lies halfway between its neighbours, 316.9 and 317.5.
    dm = Co2DataModule(lookback=52, horizon=1)
    inputs, _ = unscaled(dm, "train")
    assert inputs[0, 6] == pytest.approx(317.2, abs=1e-3)


@pytest.mark.parametrize(
    "name, cls, lookback, horizon, season",
    [
        ("co2", Co2DataModule, 104, 12, 52),
        ("sunspots", SunspotsDataModule, 33, 3, 11),
        ("series_csv", SeriesCSVDataModule, 24, 1, None),
    ],
)
def test_configs_build_their_module_with_documented_keys(tmp_path, name, cls, lookback, horizon, season):
    path = config_dir() / "data" / f"{name}.yaml"
    text = path.read_text()
    assert first_comment(text)
    lines = text.splitlines()
    shares_the_comment_above = {"eval_batch_size": "batch_size", "test_fraction": "val_fraction"}
    for above, line in zip(lines, lines[1:]):  # every key is described by the comment above it
        key = line.split(":")[0]
        if line and not line.startswith(("#", " ", "_target_")):
            assert above.startswith("#") or above.split(":")[0] == shares_the_comment_above.get(key), line
    cfg = OmegaConf.load(path)
    if name == "series_csv":
        series = tmp_path / "s.csv"
        pd.DataFrame({"v": np.arange(200.0)}).to_csv(series, index=False)
        cfg.path, cfg.target = str(series), "v"
    dm = instantiate(cfg)
    assert type(dm) is cls
    assert (dm.lookback, dm.horizon, dm.season) == (lookback, horizon, season)
    assert (dm.batch_size, dm.eval_batch_size, dm.steps_per_execution) == (64, 1024, 8)
    assert (dm.val_fraction, dm.test_fraction) == (0.15, 0.15)
    assert dm.spec.input_shape == (lookback, 1)
