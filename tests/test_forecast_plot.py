"""ForecastPlot: the forecast-against-truth image in TensorBoard, and the numbers it draws."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import build_from_overrides
from helpers import tensorboard_dir
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from dlrun.callbacks import ForecastPlot
from dlrun.callbacks.forecast_plot import collect_forecasts, default_steps, draw_forecast, forecast_lines
from dlrun.data.series.forecast_series import ForecastSeries

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore:.*treespec.*")

TINY_LSTM = ("model=lstm", "model.hidden_size=8", "logger=tensorboard")


def fit_and_test(tmp_path, *overrides):
    run = build_from_overrides(tmp_path, *overrides)
    run.trainer.fit(run.task, datamodule=run.datamodule)
    run.trainer.test(run.task, datamodule=run.datamodule, verbose=False)
    events = EventAccumulator(str(tensorboard_dir(tmp_path / "run")), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    return run, events


@pytest.fixture(scope="module")
def sunspots(tmp_path_factory):
    """Two epochs on sunspots (horizon 3), val/forecast every epoch."""
    tmp_path = tmp_path_factory.mktemp("sunspots")
    return fit_and_test(
        tmp_path, "data=sunspots", *TINY_LSTM, "trainer.max_epochs=2", "callbacks.forecast_plot.every_n_epochs=1"
    )


def hand_series() -> ForecastSeries:
    """A test part of 6 steps (years 2000..2005), horizon 2, windows starting at positions 1..4."""
    time = np.arange(2000, 2006)
    values = np.array([10.0, 11.0, 12.0, 13.0, 14.0, 15.0])
    targets = np.array([[1, 2], [2, 3], [3, 4], [4, 5]])
    return ForecastSeries(name="y", time=time, values=values, targets=targets, start=40)


# -- what is drawn, by hand ---------------------------------------------------------------------


def test_forecast_lines_place_each_step_at_the_times_it_forecasts():
    series = hand_series()
    forecasts = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])  # (window, step)
    lines = forecast_lines(series, forecasts, [1, 2])
    assert [label for label, _, _ in lines] == ["truth", "forecast, 1 step ahead", "forecast, 2 steps ahead"]
    _, truth_time, truth_values = lines[0]
    np.testing.assert_array_equal(truth_time, series.time)
    np.testing.assert_array_equal(truth_values, series.values)
    # 1 step ahead: window i forecasts its first target, position i+1.
    _, times, values = lines[1]
    np.testing.assert_array_equal(times, [2001, 2002, 2003, 2004])
    np.testing.assert_array_equal(values, [1.0, 3.0, 5.0, 7.0])
    # 2 steps ahead: window i forecasts position i+2, from one step further back.
    _, times, values = lines[2]
    np.testing.assert_array_equal(times, [2002, 2003, 2004, 2005])
    np.testing.assert_array_equal(values, [2.0, 4.0, 6.0, 8.0])
    # Only the steps asked for.
    assert [label for label, _, _ in forecast_lines(series, forecasts, [2])] == ["truth", "forecast, 2 steps ahead"]


def test_forecast_lines_refuse_a_step_outside_the_horizon_or_a_wrong_shape():
    series = hand_series()
    with pytest.raises(ValueError, match="outside the horizon"):
        forecast_lines(series, np.zeros((4, 2)), [3])
    with pytest.raises(ValueError, match="shape"):
        forecast_lines(series, np.zeros((3, 2)), [1])


def test_default_steps_are_one_and_the_horizon_once():
    assert default_steps(3) == [1, 3]
    assert default_steps(1) == [1]
    assert ForecastPlot(steps_ahead=[2, 1, 2]).steps_ahead == [2, 1]
    with pytest.raises(ValueError, match="steps_ahead"):
        ForecastPlot(steps_ahead=[0])


def test_dates_on_the_x_axis_when_the_time_is_datetime64():
    series = hand_series()
    dated = ForecastSeries(
        name="y",
        time=np.arange("2020-01-01", "2020-01-07", dtype="datetime64[D]").astype("datetime64[ns]"),
        values=series.values,
        targets=series.targets,
        start=0,
    )
    figure = draw_forecast(forecast_lines(dated, np.zeros((4, 2)), [1, 2]), "y: test part", "y")
    axes = figure.axes[0]
    assert type(axes.xaxis.get_major_formatter()).__name__ == "ConciseDateFormatter"
    labels = [line.get_label() for line in axes.get_lines()]
    assert labels == ["truth", "forecast, 1 step ahead", "forecast, 2 steps ahead"]
    assert axes.get_legend() is not None and axes.get_title() == "y: test part"
    figure.canvas.draw()  # renders without a display


# -- a real run ---------------------------------------------------------------------------------


def test_a_sunspots_run_logs_its_test_forecast_image(sunspots):
    run, events = sunspots
    tags = events.Tags()["images"]
    assert "test/forecast" in tags
    [image] = events.Images("test/forecast")
    assert image.step == run.trainer.global_step
    assert image.width > 400 and image.height > 100
    assert image.encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n"
    assert "test/confusion_matrix" not in tags


def test_val_forecast_every_n_epochs(sunspots):
    _, events = sunspots
    assert len(events.Images("val/forecast")) == 2  # two epochs, every epoch


def test_the_plotted_forecasts_are_the_models_unscaled_outputs(sunspots):
    run, _ = sunspots
    task, datamodule = run.task, run.datamodule
    task.train()
    forecasts = collect_forecasts(task, datamodule.test_dataloader())
    assert task.training  # left as it was
    inputs = datamodule.split("test")["inputs"]
    task.eval()
    with torch.no_grad():
        expected = (task(inputs) * task.spec.target_std + task.spec.target_mean).double().numpy()
    np.testing.assert_allclose(forecasts, expected, rtol=1e-6)
    series = datamodule.test_series()
    assert forecasts.shape == series.targets.shape == (len(inputs), 3)
    lines = dict((label, (t, v)) for label, t, v in forecast_lines(series, forecasts, default_steps(3)))
    assert list(lines) == ["truth", "forecast, 1 step ahead", "forecast, 3 steps ahead"]
    times, values = lines["forecast, 3 steps ahead"]
    np.testing.assert_array_equal(values, forecasts[:, 2])
    # Window i's third target is the year two after its first: origin + 2, inside the test part.
    np.testing.assert_array_equal(times, series.time[series.targets[:, 2]])
    np.testing.assert_array_equal(np.diff(times), 1)
    assert times[0] == series.time[0] + 2 and times[-1] == series.time[-1]


def test_no_forecast_image_and_no_error_for_other_data(tmp_path):
    _, events = fit_and_test(tmp_path, "data=digits", "logger=tensorboard")
    tags = events.Tags()["images"]
    assert "test/confusion_matrix" in tags
    assert not [tag for tag in tags if tag.endswith("/forecast")]


def test_no_work_without_tensorboard_or_in_other_hooks(tmp_path):
    def no_work(*args, **kwargs):
        raise AssertionError("the callback should not have done any work")

    run = build_from_overrides(tmp_path, "data=sunspots", "model=lstm", "model.hidden_size=8", "logger=none")
    run.datamodule.test_series = no_work
    run.trainer.fit(run.task, datamodule=run.datamodule)
    run.trainer.test(run.task, datamodule=run.datamodule, verbose=False)
    assert any(isinstance(c, ForecastPlot) for c in run.trainer.callbacks)
    # every_n_epochs=0: a validation epoch end touches nothing (this trainer has no loggers to read).
    ForecastPlot().on_validation_epoch_end(SimpleNamespace(sanity_checking=False, current_epoch=9), None)
