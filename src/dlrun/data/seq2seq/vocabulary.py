"""Symbol vocabularies for sequence-to-sequence data: PAD, UNK, BOS and EOS are four distinct ids.

Ids 0..3 are the special tokens, in this order, on both sides (source and target):
PAD = 0 (right-padding; embeddings take it as padding_idx, the loss as ignore_index), UNK = 1 (a
token not in the vocabulary), BOS = 2 (the decoder's first input, `target_in` starts with it),
EOS = 3 (ends every `target_out`). PAD and UNK keep the ids of dlrun.data.text_vocabulary.Vocabulary. The real
symbols follow from id 4 on, in the order given. PAD != BOS avoids the PyTorch tutorial's bug where
the start token is ignored by the loss or masked as padding.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from dlrun.errors import DlrunError

PAD_TOKEN, UNK_TOKEN, BOS_TOKEN, EOS_TOKEN = "<pad>", "<unk>", "<s>", "</s>"
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
SPECIAL_TOKENS = (PAD_TOKEN, UNK_TOKEN, BOS_TOKEN, EOS_TOKEN)
SYMBOL_VOCABULARY_FORMAT = "dlrun.symbol_vocabulary"


class SymbolVocabulary:
    """Token <-> id with the four special tokens first (PAD 0, UNK 1, BOS 2, EOS 3), then `symbols`."""

    pad_id, unk_id, bos_id, eos_id = PAD_ID, UNK_ID, BOS_ID, EOS_ID

    def __init__(self, symbols: Sequence[str]) -> None:
        self.tokens: list[str] = [*SPECIAL_TOKENS, *symbols]
        self.ids: dict[str, int] = {token: i for i, token in enumerate(self.tokens)}
        if len(self.ids) != len(self.tokens):
            repeated = sorted(t for t, n in Counter(self.tokens).items() if n > 1)
            raise ValueError(f"a vocabulary lists each token once (special tokens included); repeated: {repeated[:5]}")

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SymbolVocabulary) and self.tokens == other.tokens

    def __repr__(self) -> str:
        return f"SymbolVocabulary({len(self)} tokens: {len(self) - len(SPECIAL_TOKENS)} symbols + 4 special)"

    @property
    def symbols(self) -> list[str]:
        return self.tokens[len(SPECIAL_TOKENS) :]

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of tokens; UNK for a token not in the vocabulary. No BOS/EOS is added here."""
        return [self.ids.get(token, UNK_ID) for token in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ids up to the first EOS (excluded), PAD and BOS left out (a decoder's output as text)."""
        out = []
        for i in ids:
            i = int(i)
            if i == EOS_ID:
                break
            if i not in (PAD_ID, BOS_ID):
                out.append(self.tokens[i])
        return out

    def to_json(self) -> dict[str, object]:
        return {
            "format": SYMBOL_VOCABULARY_FORMAT,
            "version": 1,
            "pad_id": PAD_ID,
            "unk_id": UNK_ID,
            "bos_id": BOS_ID,
            "eos_id": EOS_ID,
            "tokens": list(self.tokens),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> SymbolVocabulary:
        tokens = list(data.get("tokens", []))  # type: ignore[arg-type]
        ids = tuple(data.get(k) for k in ("pad_id", "unk_id", "bos_id", "eos_id"))
        if data.get("format") != SYMBOL_VOCABULARY_FORMAT or ids != (0, 1, 2, 3) or tuple(tokens[:4]) != SPECIAL_TOKENS:
            raise DlrunError(
                f"This is not a dlrun symbol vocabulary with {', '.join(SPECIAL_TOKENS)} at ids 0, 1, 2, 3 "
                f"(format {data.get('format')!r}, special ids {ids})."
            )
        return cls(tokens[4:])


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
        cls, source: SymbolVocabulary, target: SymbolVocabulary, max_source_length: int = 0, max_target_length: int = 0
    ) -> Seq2SeqVocab:
        return cls(len(source), len(target), max_source_length=max_source_length, max_target_length=max_target_length)

    def model_arguments(self) -> dict[str, int]:
        """Everything a model may ask for by naming it as a constructor argument (like DataSpec's)."""
        return asdict(self)
