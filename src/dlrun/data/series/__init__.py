"""Time series for forecasting: windows of `lookback` steps that predict the next `horizon` steps.

- module.py: SeriesDataModule, the base: read, trim, fill gaps, split by time, scale, serve windows,
  score the baselines, save series.json;
- bundled.py: the series that ship with dlrun (Co2DataModule, SunspotsDataModule);
- series_csv.py: the user's own table (SeriesCSVDataModule);
- values.py: value columns as numbers, their observed span, gaps interpolated;
- times.py: the time column as numbers or dates (read_times, TimeColumnProblem);
- windows.py: the chronological split and the windows' origins, inputs and targets;
- baselines.py: naive and seasonal-naive forecasts, the MASE scale and the forecast errors;
- forecast_series.py: ForecastSeries, one part of the series as a forecast plot needs it.
"""

from dlrun.data.series.bundled import Co2DataModule, SunspotsDataModule
from dlrun.data.series.forecast_series import ForecastSeries
from dlrun.data.series.module import SeriesDataModule
from dlrun.data.series.series_csv import SeriesCSVDataModule

__all__ = [
    "Co2DataModule",
    "ForecastSeries",
    "SeriesCSVDataModule",
    "SeriesDataModule",
    "SunspotsDataModule",
]
