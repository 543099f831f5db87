"""Tokenizers and the vocabulary of text runs (saved with the run as vocab.json).

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

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from dlrun.errors import DlrunError, unknown_choice

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
