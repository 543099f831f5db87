"""Data modules: each loads one kind of data, splits it, and describes what it serves."""

from dlrun.data.adding import AddingDataModule
from dlrun.data.audio.audio_folder import AudioFolderDataModule
from dlrun.data.audio.digit_strings import SpokenDigitStringsDataModule
from dlrun.data.audio.spoken_digits import SpokenDigitsDataModule
from dlrun.data.fashion_mnist import FashionMNISTDataModule, FashionMNISTSmallDataModule
from dlrun.data.image_folder import ImageFolderDataModule
from dlrun.data.image_ops import ImageAugmentation, ImagePreprocessing
from dlrun.data.series import Co2DataModule, ForecastSeries, SeriesCSVDataModule, SeriesDataModule, SunspotsDataModule
from dlrun.data.sklearn_tables import SklearnDataModule
from dlrun.data.spec import DataSpec
from dlrun.data.table import TableDataModule, TableSpec
from dlrun.data.text import RottenTomatoesDataModule, TextCSVDataModule, TextDataModule
from dlrun.data.text_vocabulary import Vocabulary

__all__ = [
    "AddingDataModule",
    "AudioFolderDataModule",
    "Co2DataModule",
    "DataSpec",
    "FashionMNISTDataModule",
    "FashionMNISTSmallDataModule",
    "ForecastSeries",
    "ImageAugmentation",
    "ImageFolderDataModule",
    "ImagePreprocessing",
    "RottenTomatoesDataModule",
    "SeriesCSVDataModule",
    "SeriesDataModule",
    "SklearnDataModule",
    "SpokenDigitStringsDataModule",
    "SpokenDigitsDataModule",
    "SunspotsDataModule",
    "TableDataModule",
    "TableSpec",
    "TextCSVDataModule",
    "TextDataModule",
    "Vocabulary",
]
