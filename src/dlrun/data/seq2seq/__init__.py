"""Sequence-to-sequence data: procedural problems, symbol vocabularies (PAD/UNK/BOS/EOS), the batch layout.

See procedural.py for the procedural problems and how splits are drawn, batches.py for the batch layout
(source, source_lengths, target_in, target_out, target_lengths) and length buckets, and
vocabulary.py for the special ids.
"""

from dlrun.data.seq2seq.batches import (
    SEQ2SEQ_KEYS,
    SEQ2SEQ_LENGTH_KEYS,
    assign_buckets,
    bucket_name,
    default_length_buckets,
    encode_pairs,
    parse_length_buckets,
)
from dlrun.data.seq2seq.generators import (
    DATE_FORMATS,
    PROBLEMS,
    addition,
    copy,
    dates,
    generate,
    problem_symbols,
    reverse,
    sort,
)
from dlrun.data.seq2seq.module import Seq2SeqDataModule, source_overlap
from dlrun.data.seq2seq.parallel import (
    BibleEnEsDataModule,
    ParallelTextDataModule,
    ParallelTSVDataModule,
    read_parallel_tsv,
)
from dlrun.data.seq2seq.procedural import ProceduralSeq2SeqDataModule, Seq2SeqSplits
from dlrun.data.seq2seq.vocabulary import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    SEQ2SEQ_SPECIALS,
    UNK_ID,
    Seq2SeqVocab,
    symbol_vocabulary,
)

__all__ = [
    "BOS_ID",
    "DATE_FORMATS",
    "EOS_ID",
    "PAD_ID",
    "SEQ2SEQ_KEYS",
    "SEQ2SEQ_LENGTH_KEYS",
    "SEQ2SEQ_SPECIALS",
    "PROBLEMS",
    "UNK_ID",
    "BibleEnEsDataModule",
    "ParallelTSVDataModule",
    "ParallelTextDataModule",
    "ProceduralSeq2SeqDataModule",
    "Seq2SeqSplits",
    "Seq2SeqVocab",
    "addition",
    "assign_buckets",
    "bucket_name",
    "copy",
    "dates",
    "default_length_buckets",
    "encode_pairs",
    "generate",
    "parse_length_buckets",
    "read_parallel_tsv",
    "reverse",
    "sort",
    "symbol_vocabulary",
    "Seq2SeqDataModule",
    "source_overlap",
    "problem_symbols",
]
