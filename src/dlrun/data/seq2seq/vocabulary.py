"""The special tokens of sequence-to-sequence vocabularies: PAD, UNK, BOS and EOS are four distinct ids.

Ids 0..3 are the special tokens, in this order, on both sides (source and target):
PAD = 0 (right-padding; embeddings take it as padding_idx, the loss as ignore_index), UNK = 1 (a
token not in the vocabulary), BOS = 2 (the decoder's first input, `target_in` starts with it),
EOS = 3 (ends every `target_out`). PAD and UNK keep the ids of the text vocabulary. The real
symbols follow from id 4 on, in the order given. PAD != BOS avoids the PyTorch tutorial's bug where
the start token is ignored by the loss or masked as padding.

A vocabulary of symbols is dlrun.data.text_vocabulary.Vocabulary with SEQ2SEQ_SPECIALS and no
tokenizer of its own (`symbol_vocabulary`): a parallel-text run keeps each side's tokenizer beside
both vocabularies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from dlrun.data.text_vocabulary import PAD_ID, PAD_TOKEN, UNK_ID, UNK_TOKEN, SpecialTokens, Vocabulary

BOS_TOKEN, EOS_TOKEN = "<s>", "</s>"
BOS_ID, EOS_ID = 2, 3
SYMBOL_VOCABULARY_FORMAT = "dlrun.symbol_vocabulary"
SEQ2SEQ_SPECIALS = SpecialTokens(SYMBOL_VOCABULARY_FORMAT, PAD_TOKEN, UNK_TOKEN, BOS_TOKEN, EOS_TOKEN)
SPECIAL_TOKENS = SEQ2SEQ_SPECIALS.tokens


def symbol_vocabulary(symbols: Sequence[str]) -> Vocabulary:
    """PAD, UNK, BOS and EOS (ids 0..3), then `symbols` from id 4 on, in the order given."""
    return Vocabulary(symbols, tokenizer=None, specials=SEQ2SEQ_SPECIALS)


@dataclass(frozen=True)
class Seq2SeqVocab:
    """What a seq2seq model needs to know about the data, beside DataSpec (which has no target side yet).

    Sizes count the special tokens (embedding and output-layer widths). `max_source_length` is the
    longest source served; `max_target_length` the longest `target_out` (target + EOS).
    """

    source_vocab_size: int
    target_vocab_size: int
    pad_id: int = PAD_ID
    unk_id: int = UNK_ID
    bos_id: int = BOS_ID
    eos_id: int = EOS_ID
    max_source_length: int = 0
    max_target_length: int = 0

    def __post_init__(self) -> None:
        specials = (self.pad_id, self.unk_id, self.bos_id, self.eos_id)
        if len(set(specials)) != 4:
            raise ValueError(f"PAD, UNK, BOS and EOS must be distinct ids, got {specials}")

    @classmethod
    def of(
        cls, source: Vocabulary, target: Vocabulary, max_source_length: int = 0, max_target_length: int = 0
    ) -> Seq2SeqVocab:
        return cls(len(source), len(target), max_source_length=max_source_length, max_target_length=max_target_length)

    def model_arguments(self) -> dict[str, int]:
        """Everything a model may ask for by naming it as a constructor argument (like DataSpec's)."""
        return asdict(self)
