"""Parallel text (translation) data: the bundled bible_en_es pairs and the user's own TSV files.

A `ParallelTextDataModule` reads (source, target) string pairs (subclasses implement `read()`),
then, in this order:
1. tokenizes each side with its own tokenizer (`source_tokenizer`, `target_tokenizer`: `word` or
   `char`, the tokenizers of dlrun.data.text_vocabulary, which keep combining marks on their letters
   in any script; `lowercase` applies to both sides);
2. drops later repeats of a source (`deduplicate`, on by default: the Bible repeats whole verses,
   e.g. the offerings of Numbers 7, which would otherwise sit in train and test at once), keeping
   the first occurrence;
3. splits the pairs (seeded by `split_seed`, unstratified): `test_fraction` and `val_fraction` of
   them, the rest trains. The split does not depend on the length limits or the vocabulary settings;
4. drops TRAINING pairs with more than `max_source_length` source or `max_target_length` target
   tokens (null = no limit); the count is logged and kept in `dropped`. Validation and test pairs
   are never dropped or truncated, so they stay the same whatever the training limits, and BLEU is
   measured against whole references (a model's decode limit must leave room for them);
5. builds the vocabularies on the training pairs only (`min_freq`, `max_size`; ids by descending
   frequency, ties alphabetical), one per side, or one over both sides with `shared_vocabulary`
   (then `source_vocab is target_vocab`). A token that occurs only in validation or test is UNK;
6. serves every split in the seq2seq batch layout (dlrun.data.seq2seq.batches.encode_pairs):
   source, source_lengths, target_in, target_out, target_lengths.

The attributes are those of ProceduralSeq2SeqDataModule, so one task serves both: `vocab`
(Seq2SeqVocab), `source_vocab`, `target_vocab` (symbol vocabularies), `pairs[split]` (token pairs, the
references for BLEU), `overlap`, `length_buckets` (by source length; default width 10 over the
validation and test source lengths), `bucket_names()`, `buckets_of(split)`, `problem`, and
`save_preprocessing(directory)`, which writes seq2seq_vocab.json with the vocabularies and how each
side is tokenized (`tokenize_source` repeats it on new text).
"""

from __future__ import annotations

import gzip
import json
import logging
from abc import abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from dlrun.checks import check_exists, check_number
from dlrun.choices import check_config_choice
from dlrun.data.loader import Batch
from dlrun.data.seq2seq.module import Seq2SeqDataModule
from dlrun.data.seq2seq.procedural import SEQ2SEQ_VOCAB_FILE
from dlrun.data.seq2seq.vocabulary import SEQ2SEQ_SPECIALS
from dlrun.data.spec import DataSpec
from dlrun.data.splits import split_indices
from dlrun.data.text import Tokenizer
from dlrun.data.text_vocabulary import TOKENIZERS, Vocabulary
from dlrun.errors import ConfigError

log = logging.getLogger(__name__)

Tokens = list[str]
Pairs = list[tuple[Tokens, Tokens]]

BIBLE_EN_ES = Path(__file__).resolve().parents[1] / "files" / "bible_en_es.tsv.gz"
EXAMPLE_COMMAND = "`dlrun train data=parallel_tsv data.path=pairs.tsv model=seq2seq`"


def read_parallel_tsv(path: Path, fields: int = 2) -> list[tuple[str, ...]]:
    """The lines of a UTF-8 TSV file (gzipped when the name ends in .gz), each split into exactly `fields`
    tab-separated fields, none of them blank. No header line. A blank line, a line with another
    number of fields or a blank field is a ConfigError naming the file and the line number."""
    path = Path(path)
    check_exists(
        path,
        "data.path",
        f"Point data.path at a UTF-8 file of source<TAB>target lines, one pair per line and no header, e.g. "
        f"{EXAMPLE_COMMAND}.",
    )
    if not path.is_file():
        raise ConfigError(f"data.path '{path}' is a folder; point it at a file of source<TAB>target lines.")
    layout = "source<TAB>target" if fields == 2 else "<TAB>".join(f"field{i + 1}" for i in range(fields))
    try:
        raw = path.read_bytes()
        text = (gzip.decompress(raw) if path.name.endswith(".gz") else raw).decode("utf-8-sig")
    except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile) as e:
        raise ConfigError(f"Could not read '{path}' (data.path) as UTF-8 text of {layout} lines: {e}.") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    if not lines:
        raise ConfigError(f"'{path}' (data.path) is empty: it needs {layout} lines, one pair per line.")
    rows = []
    for number, line in enumerate(lines, start=1):
        line = line.removesuffix("\r")
        where = f"line {number} of '{path}'"
        if not line.strip():
            raise ConfigError(
                f"{where} is empty. Every line must be one {layout} pair; remove the blank line or fill it in."
            )
        parts = line.split("\t")
        if len(parts) != fields:
            shown = line if len(line) <= 80 else line[:77] + "..."
            raise ConfigError(
                f"{where} has {len(parts)} tab-separated field{'s' if len(parts) != 1 else ''}, not {fields}: "
                f"{shown!r}. Every line must be {layout}, with exactly {fields - 1} tab"
                f"{'s' if fields > 2 else ''} (a tab inside a text would split it)."
            )
        blank = [i + 1 for i, part in enumerate(parts) if not part.strip()]
        if blank:
            raise ConfigError(
                f"{where} has a blank field (field {blank[0]} of {layout}); fill it in or remove the line."
            )
        rows.append(tuple(part.strip() for part in parts))
    return rows


def build_vocabulary(
    token_lists: Iterable[Sequence[str]], min_freq: int = 1, max_size: int | None = None
) -> Vocabulary:
    """The tokens seen at least `min_freq` times, at most `max_size` of them (the most frequent), ids by
    descending frequency with ties in alphabetical order; the four special tokens first. No tokenizer
    is recorded in it: seq2seq_vocab.json keeps each side's beside the vocabularies."""
    return Vocabulary.build(token_lists, min_freq, max_size, tokenizer=None, specials=SEQ2SEQ_SPECIALS)


class ParallelTextDataModule(Seq2SeqDataModule):
    """(source, target) text pairs, tokenized, split, filtered and encoded as the module's docstring says.
    Subclasses implement `read()`. `options` (batch_size, eval_batch_size, steps_per_execution,
    bucket_pool_batches) go to InMemoryDataModule untouched."""

    problem = "parallel_text"

    def __init__(
        self,
        source_tokenizer: Tokenizer = "word",
        target_tokenizer: Tokenizer = "word",
        lowercase: bool = True,
        min_freq: int = 1,
        max_size: int | None = None,
        shared_vocabulary: bool = False,
        max_source_length: int | None = None,
        max_target_length: int | None = None,
        deduplicate: bool = True,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        split_seed: int = 0,
        length_buckets: object = None,
        **options,
    ) -> None:
        super().__init__(length_buckets=length_buckets, **options)
        check_config_choice("data.source_tokenizer", source_tokenizer, Tokenizer)
        check_config_choice("data.target_tokenizer", target_tokenizer, Tokenizer)
        check_number(
            "data.min_freq",
            min_freq,
            at_least=1,
            whole=True,
            meaning="keep tokens seen at least that many times in the training pairs",
        )
        for key, value in (
            ("max_size", max_size),
            ("max_source_length", max_source_length),
            ("max_target_length", max_target_length),
        ):
            check_number(f"data.{key}", value, at_least=1, whole=True, null_means="for no limit")
        check_number("data.split_seed", split_seed, at_least=0, whole=True)
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.lowercase = bool(lowercase)
        self.min_freq = int(min_freq)
        self.max_size = max_size
        self.shared_vocabulary = bool(shared_vocabulary)
        self.max_source_length = max_source_length
        self.max_target_length = max_target_length
        self.deduplicate = bool(deduplicate)
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = int(split_seed)
        self._source_vocab: Vocabulary | None = None
        self._target_vocab: Vocabulary | None = None
        self.duplicates = 0
        self.dropped: dict[str, int] = {}

    @abstractmethod
    def read(self) -> list[tuple[str, str]]:
        """All (source text, target text) pairs, in file order."""

    def text_source(self) -> str:
        """Where the pairs come from, for messages."""
        return "the pairs"

    # -- tokenization -------------------------------------------------------------------------

    def tokenize_source(self, text: str) -> Tokens:
        return TOKENIZERS[self.source_tokenizer](text, self.lowercase)

    def tokenize_target(self, text: str) -> Tokens:
        return TOKENIZERS[self.target_tokenizer](text, self.lowercase)

    def join_target(self, tokens: Sequence[str]) -> str:
        """Output tokens as text: words with spaces, characters (grapheme clusters) without."""
        return "".join(tokens) if self.target_tokenizer == "char" else " ".join(tokens)

    # -- attributes shared with ProceduralSeq2SeqDataModule ------------------------------------

    @property
    def source_vocab(self) -> Vocabulary:
        self.setup()
        assert self._source_vocab is not None
        return self._source_vocab

    @property
    def target_vocab(self) -> Vocabulary:
        self.setup()
        assert self._target_vocab is not None
        return self._target_vocab

    # -- loading ------------------------------------------------------------------------------

    def load(self) -> tuple[dict[str, Batch], DataSpec]:
        texts = self.read()
        tokenized: Pairs = [(self.tokenize_source(s), self.tokenize_target(t)) for s, t in texts]
        empty = [i for i, (s, t) in enumerate(tokenized) if not s or not t]
        if empty:
            raise ConfigError(
                f"Pair {empty[0] + 1} of {self.text_source()} has no tokens on one side after tokenizing "
                f"(data.source_tokenizer={self.source_tokenizer}, data.target_tokenizer={self.target_tokenizer}); "
                f"every source and target needs at least one token."
            )
        if self.deduplicate:
            seen: set[tuple[str, ...]] = set()
            unique: Pairs = []
            for pair in tokenized:
                key = tuple(pair[0])
                if key not in seen:
                    seen.add(key)
                    unique.append(pair)
            self.duplicates = len(tokenized) - len(unique)
            tokenized = unique
        if len(tokenized) < 3:
            raise ConfigError(
                f"{self.text_source()} hold{'s' if len(tokenized) == 1 else ''} {len(tokenized)} distinct pair"
                f"{'s' if len(tokenized) != 1 else ''}; training, validation and test need at least one each."
            )
        indices = split_indices(
            np.zeros(len(tokenized)), self.val_fraction, self.test_fraction, seed=self.split_seed, stratify=False
        )
        pairs = {name: [tokenized[i] for i in idx] for name, idx in indices.items()}
        for name in ("val", "test"):
            if not pairs[name]:
                raise ConfigError(
                    f"data.{name}_fraction={getattr(self, name + '_fraction')} leaves no {name} pairs out of "
                    f"{len(tokenized)}; raise it."
                )
        pairs["train"], dropped = self._filter_training(pairs["train"])
        self.dropped = {"train": dropped}
        if not pairs["train"]:
            raise ConfigError(
                f"Every training pair of {self.text_source()} is longer than data.max_source_length="
                f"{self.max_source_length} or data.max_target_length={self.max_target_length} tokens; raise the "
                f"limits (null = no limit)."
            )
        self._source_vocab, self._target_vocab = self._build_vocabularies(pairs["train"])
        served = self.serve(pairs, self._source_vocab, self._target_vocab)
        self._log_summary(pairs)
        return served

    def _filter_training(self, train: Pairs) -> tuple[Pairs, int]:
        max_s, max_t = self.max_source_length, self.max_target_length
        kept = [(s, t) for s, t in train if (max_s is None or len(s) <= max_s) and (max_t is None or len(t) <= max_t)]
        dropped = len(train) - len(kept)
        if dropped:
            log.info(
                "%s: dropped %d of %d training pairs longer than max_source_length=%s or max_target_length=%s "
                "tokens (validation and test are kept whole).",
                self.text_source(),
                dropped,
                len(train),
                max_s,
                max_t,
            )
        return kept, dropped

    def _build_vocabularies(self, train: Pairs) -> tuple[Vocabulary, Vocabulary]:
        if self.shared_vocabulary:
            shared = build_vocabulary([tokens for pair in train for tokens in pair], self.min_freq, self.max_size)
            vocabularies = (shared, shared)
        else:
            vocabularies = (
                build_vocabulary((s for s, _ in train), self.min_freq, self.max_size),
                build_vocabulary((t for _, t in train), self.min_freq, self.max_size),
            )
        for side, vocabulary in zip(("source", "target"), vocabularies):
            if len(vocabulary) <= 4:
                raise ConfigError(
                    f"The {side} vocabulary of {self.text_source()} would hold only PAD, UNK, BOS and EOS: no "
                    f"token of the {len(train)} training pairs is seen data.min_freq={self.min_freq} times. Lower "
                    f"data.min_freq (1 keeps every training token)."
                )
        return vocabularies

    def _log_summary(self, pairs: dict[str, Pairs]) -> None:
        assert self._source_vocab is not None and self._target_vocab is not None
        log.info(
            "%s: %d/%d/%d train/val/test pairs (%d repeated sources dropped); vocabularies of %d source and "
            "%d target tokens%s (min_freq=%d).",
            self.text_source(),
            len(pairs["train"]),
            len(pairs["val"]),
            len(pairs["test"]),
            self.duplicates,
            len(self._source_vocab),
            len(self._target_vocab),
            ", shared" if self.shared_vocabulary else "",
            self.min_freq,
        )

    def save_preprocessing(self, directory: Path) -> None:
        """Write seq2seq_vocab.json: both vocabularies and how each side was tokenized."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        data = {
            "problem": self.problem,
            "source": self.source_vocab.to_json(),
            "target": self.target_vocab.to_json(),
            "source_tokenizer": self.source_tokenizer,
            "target_tokenizer": self.target_tokenizer,
            "lowercase": self.lowercase,
            "shared_vocabulary": self.shared_vocabulary,
        }
        Path(directory, SEQ2SEQ_VOCAB_FILE).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


class BibleEnEsDataModule(ParallelTextDataModule):
    """English (World English Bible) -> Spanish (Reina-Valera 1909) verse pairs of at most 15 words a
    side, read from the bundled bible_en_es.tsv.gz (english<TAB>spanish<TAB>verse key lines; see
    files/BIBLE_EN_ES_SOURCES.md and scripts/extract_bible_en_es.py). `direction="es-en"` swaps the sides."""

    problem = "bible_en_es"

    def __init__(self, direction: str = "en-es", **options) -> None:
        if direction not in ("en-es", "es-en"):
            raise ConfigError(f"data.direction must be 'en-es' (English -> Spanish) or 'es-en'; got {direction!r}.")
        super().__init__(**options)
        self.direction = direction
        self.keys: list[str] = []

    def text_source(self) -> str:
        return f"'{BIBLE_EN_ES.name}'"

    def read(self) -> list[tuple[str, str]]:
        rows = read_parallel_tsv(BIBLE_EN_ES, fields=3)
        self.keys = [row[2] for row in rows]
        if self.direction == "es-en":
            return [(row[1], row[0]) for row in rows]
        return [(row[0], row[1]) for row in rows]


class ParallelTSVDataModule(ParallelTextDataModule):
    """The user's own pairs: a UTF-8 file (optionally .gz) of `source<TAB>target` lines, no header."""

    problem = "parallel_tsv"

    def __init__(self, path: str | Path | None = None, **options) -> None:
        if path is None or str(path).strip() == "":
            raise ConfigError(
                f"data.path is not set: point it at a UTF-8 file of source<TAB>target lines (one pair per line, no "
                f"header), e.g. {EXAMPLE_COMMAND}."
            )
        super().__init__(**options)
        self.path = Path(path)

    def text_source(self) -> str:
        return f"'{self.path}'"

    def read(self) -> list[tuple[str, str]]:
        return [(row[0], row[1]) for row in read_parallel_tsv(self.path, fields=2)]
