"""What every sequence-to-sequence data module serves and exposes, whatever makes its pairs."""

from __future__ import annotations

import torch

from dlrun.data.in_memory import InMemoryDataModule
from dlrun.data.loader import Batch
from dlrun.data.seq2seq.batches import (
    SOURCE_LENGTHS,
    assign_buckets,
    bucket_name,
    default_length_buckets,
    encode_pairs,
    parse_length_buckets,
)
from dlrun.data.seq2seq.vocabulary import Seq2SeqVocab
from dlrun.data.spec import DataSpec
from dlrun.data.text_vocabulary import Vocabulary

Pairs = list[tuple[list[str], list[str]]]  # (source tokens, target tokens), as the subclasses make them


def source_overlap(pairs: dict[str, Pairs]) -> dict[str, int]:
    """Examples of val / test whose source also occurs in train ('val', 'test') and test in val ('test_val')."""
    seen = {name: {tuple(s) for s, _ in split} for name, split in pairs.items()}
    return {
        "val": sum(tuple(s) in seen["train"] for s, _ in pairs["val"]),
        "test": sum(tuple(s) in seen["train"] for s, _ in pairs["test"]),
        "test_val": sum(tuple(s) in seen["val"] for s, _ in pairs["test"]),
    }


class Seq2SeqDataModule(InMemoryDataModule):
    """Token pairs per split, served in the Seq2Seq batch layout (see batches.py).

    Subclasses make the pairs and their vocabularies in `load()` and hand them to `serve()`. Then
    `pairs`, `overlap` (val/test sources also in train), `vocab`, `length_buckets`, `bucket_names()`
    and `buckets_of(split)` describe them, the same for every subclass, so one task serves all.
    """

    def __init__(self, length_buckets: object = None, **options) -> None:
        super().__init__(**options)
        self._bucket_spec = None if length_buckets is None else parse_length_buckets(length_buckets)
        self._pairs: dict[str, Pairs] = {}
        self._overlap: dict[str, int] = {}
        self._vocab: Seq2SeqVocab | None = None

    def serve(
        self, pairs: dict[str, Pairs], source_vocab: Vocabulary, target_vocab: Vocabulary
    ) -> tuple[dict[str, Batch], DataSpec]:
        """Encode each split's pairs; the spec's vocab_size / max_length describe the source side."""
        self._pairs = pairs
        self._overlap = source_overlap(pairs)
        splits = {name: encode_pairs(split, source_vocab, target_vocab) for name, split in pairs.items()}
        max_source = max(int(b["source"].shape[1]) for b in splits.values())
        max_target = max(int(b["target_out"].shape[1]) for b in splits.values())
        self._vocab = Seq2SeqVocab.of(source_vocab, target_vocab, max_source, max_target)
        # Target vocabularies are symbol vocabularies (seq2seq/vocabulary.py): they have BOS and EOS.
        assert target_vocab.bos_id is not None and target_vocab.eos_id is not None
        spec = DataSpec(
            "seq2seq",
            (max_source,),
            vocab_size=len(source_vocab),
            pad_id=source_vocab.pad_id,
            max_length=max_source,
            source_vocab_size=len(source_vocab),
            target_vocab_size=len(target_vocab),
            bos_id=target_vocab.bos_id,
            eos_id=target_vocab.eos_id,
            max_target_length=max_target,
        )
        return splits, spec

    @property
    def pairs(self) -> dict[str, Pairs]:
        """The token pairs of each split, in the order served."""
        self.setup()
        return self._pairs

    @property
    def overlap(self) -> dict[str, int]:
        """Val and test examples whose source is also in train ('val', 'test'), test's also in val ('test_val')."""
        self.setup()
        return self._overlap

    @property
    def vocab(self) -> Seq2SeqVocab:
        self.setup()
        assert self._vocab is not None
        return self._vocab

    @property
    def length_buckets(self) -> list[tuple[int, int]]:
        """`data.length_buckets`, else buckets 10 long over the evaluation source lengths."""
        if self._bucket_spec is not None:
            return self._bucket_spec
        return default_length_buckets(*self.eval_length_range())

    def eval_length_range(self) -> tuple[int, int]:
        """The shortest and longest validation or test source (subclasses may know it without data)."""
        lengths = [len(source) for name in ("val", "test") for source, _ in self.pairs[name]]
        return min(lengths), max(lengths)

    def bucket_names(self) -> list[str]:
        return [bucket_name(b) for b in self.length_buckets]

    def buckets_of(self, split: str) -> torch.Tensor:
        """Each example's bucket index (into length_buckets) by source length, -1 outside every bucket."""
        return assign_buckets(self.split(split)[SOURCE_LENGTHS], self.length_buckets)
