"""Data modules: each loads one kind of data, splits it, and describes what it serves."""

from dlrun.data.fashion_mnist import FashionMNISTDataModule, FashionMNISTSmallDataModule
from dlrun.data.image_folder import ImageFolderDataModule
from dlrun.data.image_ops import ImageAugmentation, ImagePreprocessing
from dlrun.data.sklearn_tables import SklearnDataModule
from dlrun.data.spec import DataSpec
from dlrun.data.table import TableDataModule, TableSpec

__all__ = [
    "DataSpec",
    "FashionMNISTDataModule",
    "FashionMNISTSmallDataModule",
    "ImageAugmentation",
    "ImageFolderDataModule",
    "ImagePreprocessing",
    "SklearnDataModule",
    "TableDataModule",
    "TableSpec",
]
