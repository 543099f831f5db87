"""Data modules: each loads one kind of data, splits it, and describes what it serves."""

from dlrun.data.sklearn_tables import SklearnDataModule
from dlrun.data.spec import DataSpec

__all__ = ["DataSpec", "SklearnDataModule"]
