"""Tokenizers, and the vocabulary of text and sequence-to-sequence runs.

The one `Vocabulary` class serves both; what differs is its `SpecialTokens`: text runs use
TEXT_SPECIALS (PAD, UNK; saved with the run as vocab.json), sequence-to-sequence runs add BOS and EOS
(dlrun.data.seq2seq.vocabulary.SEQ2SEQ_SPECIALS, saved inside seq2seq_vocab.json).

Tokenizers (both see the text in Unicode NFC first, so "é" typed as one code point or as "e" plus a
combining accent is the same token, and a letter never loses its combining marks: the vowel signs
of Devanagari, Bengali or Tamil, Thai tone marks, Arabic harakat, accents):
- `word`: words and punctuation marks. A word is a run of letters (with their marks), digits or
  underscores; an apostrophe between two such runs stays inside the word, so "isn't", "don't" and
  "director's" are one token each (the negation is one vocabulary entry, not "isn" + "'" + "t").
  The curly apostrophe (U+2019), which the reviews of rotten_tomatoes also use, counts as "'" and is
  written as "'" in the token. Every other character that is neither a letter, digit nor space is a
  token of its own (with any marks on it): "great?!" -> "great", "?", "!"; "मेरा नाम सजल है।" ->
  "मेरा", "नाम", "सजल", "है", "।". Spaces only separate tokens, so a script written without spaces
  between words (Thai, Chinese) gets one token per space-separated run.
- `char`: one token per user-perceived character (a Unicode extended grapheme cluster): a letter
  and its marks, an Indic conjunct ("क्ष"), an emoji with its modifiers. "नमस्ते" -> "न", "म", "स्ते";
  for English it is one token per character. Runs of white space become one space, and leading or
  trailing space is dropped.
Both lowercase the text first unless `lowercase=False`. The Unicode rules (what a letter, a mark and
a grapheme cluster are) come from the `regex` module, not from tables of our own; Python's `re`
does not count combining marks as word characters and has no grapheme clusters.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import regex

from dlrun.errors import DlrunError, unknown_choice

PAD_TOKEN, UNK_TOKEN = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
VOCABULARY_FILE = "vocab.json"
VOCABULARY_FORMAT = "dlrun.vocabulary"
VOCABULARY_VERSION = 1

_APOSTROPHES = str.maketrans({"\u2019": "'"})
# A word character: regex's \w (letters, combining marks, decimal digits, connector punctuation such as
# "_", and the zero-width joiners some scripts write inside words) and every other number character
# ("²", "½"), which Python's \w also counted, so English tokens stay exactly what they were.
_WORD_CHAR = r"[\w\p{N}]"
# A word (apostrophes inside it kept), or one grapheme cluster that starts with any other non-space
# character: a punctuation mark or symbol with whatever marks or modifiers ride on it.
_WORD = regex.compile(rf"{_WORD_CHAR}+(?:'{_WORD_CHAR}+)*|(?=[^\w\s])\X")
_GRAPHEME = regex.compile(r"\X")
_SPACE = regex.compile(r"\s+")
# ASCII text has no marks and no multi-character clusters (but CR LF, which the space runs absorb):
# the same tokens, from Python's faster `re` (2x for words, 9x for characters).
_ASCII_WORD = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def normalized(text: str, lowercase: bool = True) -> str:
    """`text` in Unicode NFC, lowercased when asked (and NFC again: lowercasing may leave a letter and
    its marks uncomposed), the form both tokenizers read."""
    text = unicodedata.normalize("NFC", text)
    return unicodedata.normalize("NFC", text.lower()) if lowercase else text


def word_tokens(text: str, lowercase: bool = True) -> list[str]:
    """Words and punctuation marks: "Isn't it great?!" -> ["isn't", "it", "great", "?", "!"]; a word keeps
    its combining marks: "मेरा नाम" -> ["मेरा", "नाम"]."""
    text = text.translate(_APOSTROPHES)
    if text.isascii():
        return _ASCII_WORD.findall(text.lower() if lowercase else text)
    return _WORD.findall(normalized(text, lowercase))


def char_tokens(text: str, lowercase: bool = True) -> list[str]:
    """Grapheme clusters, white space runs collapsed to one space: "Hi  you" -> ["h", "i", " ", "y", "o", "u"],
    "नमस्ते" -> ["न", "म", "स्ते"]."""
    text = _SPACE.sub(" ", normalized(text, lowercase)).strip()
    return list(text) if text.isascii() else _GRAPHEME.findall(text)


TOKENIZERS: dict[str, Callable[[str, bool], list[str]]] = {"word": word_tokens, "char": char_tokens}


def tokenizer_named(name: str) -> Callable[[str, bool], list[str]]:
    if name not in TOKENIZERS:
        raise unknown_choice("data.tokenizer", name, TOKENIZERS)
    return TOKENIZERS[name]


@dataclass(frozen=True)
class SpecialTokens:
    """The tokens a vocabulary puts before its real ones: PAD, UNK, then BOS and EOS where given, at ids
    0, 1, 2, ... in that order. `format` names the JSON a vocabulary with these specials is written as;
    it travels with them because a file written with other specials must be refused, not read with
    every id shifted."""

    format: str
    pad: str = PAD_TOKEN
    unk: str = UNK_TOKEN
    bos: str | None = None
    eos: str | None = None

    def by_role(self) -> dict[str, str]:
        """{"pad": "<pad>", "unk": "<unk>", ...}: the specials given, in id order."""
        given = {"pad": self.pad, "unk": self.unk, "bos": self.bos, "eos": self.eos}
        return {role: token for role, token in given.items() if token is not None}

    @property
    def tokens(self) -> tuple[str, ...]:
        return tuple(self.by_role().values())

    @property
    def ids(self) -> dict[str, int]:
        """{"pad_id": 0, "unk_id": 1, ...}: each special's id under the key a vocabulary's JSON gives it."""
        return {f"{role}_id": i for i, role in enumerate(self.by_role())}


TEXT_SPECIALS = SpecialTokens(VOCABULARY_FORMAT)


class Vocabulary:
    """Token <-> id: the special tokens first (`specials`; PAD = 0 and UNK = 1 for text), then the tokens
    by descending training frequency (ties in alphabetical order, so the same texts always give the
    same ids). It also remembers how its texts were tokenized (`tokenizer` None: it records none), so
    a saved vocabulary encodes new text exactly as in training."""

    def __init__(
        self,
        tokens: Sequence[str],
        tokenizer: str | None = "word",
        lowercase: bool = True,
        specials: SpecialTokens = TEXT_SPECIALS,
    ) -> None:
        """`tokens`: the real tokens in id order, after the special ones (which are added here)."""
        if tokenizer is not None:
            tokenizer_named(tokenizer)
        self.tokenizer = tokenizer
        self.lowercase = bool(lowercase)
        self.specials = specials
        self.tokens: list[str] = [*specials.tokens, *tokens]
        self.ids: dict[str, int] = {token: i for i, token in enumerate(self.tokens)}
        if len(self.ids) != len(self.tokens):
            repeated = sorted(t for t, n in Counter(self.tokens).items() if n > 1)
            raise ValueError(
                f"a vocabulary lists each token once (special tokens included); repeated: {', '.join(repeated[:5])}"
            )
        special_ids = specials.ids
        self.pad_id: int = special_ids["pad_id"]
        self.unk_id: int = special_ids["unk_id"]
        self.bos_id: int | None = special_ids.get("bos_id")
        self.eos_id: int | None = special_ids.get("eos_id")

    @classmethod
    def build(
        cls,
        texts: Iterable[Sequence[str]],
        min_freq: int = 1,
        max_size: int | None = None,
        tokenizer: str | None = "word",
        lowercase: bool = True,
        specials: SpecialTokens = TEXT_SPECIALS,
    ) -> Vocabulary:
        """From tokenized texts: the tokens seen at least `min_freq` times, at most `max_size` of them
        (the most frequent; the special tokens not counted), None = all."""
        counts: Counter[str] = Counter()
        for tokens in texts:
            counts.update(tokens)
        kept = sorted((t for t, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[:max_size]
        return cls(kept, tokenizer, lowercase, specials)

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        specials = len(self.specials.tokens)
        how = "" if self.tokenizer is None else f", tokenizer={self.tokenizer}, lowercase={self.lowercase}"
        return f"Vocabulary({len(self)} tokens: {len(self) - specials} + {specials} special{how})"

    @property
    def symbols(self) -> list[str]:
        """The real tokens, in id order: all but the special ones."""
        return self.tokens[len(self.specials.tokens) :]

    def tokenize(self, text: str) -> list[str]:
        if self.tokenizer is None:
            raise ValueError("this vocabulary records no tokenizer; tokenize its text where it was built")
        return TOKENIZERS[self.tokenizer](text, self.lowercase)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of tokens; UNK for a token not in the vocabulary. No BOS or EOS is added here."""
        ids, unk_id = self.ids, self.unk_id
        return [ids.get(token, unk_id) for token in tokens]

    def encode_text(self, text: str) -> list[int]:
        return self.encode(self.tokenize(text))

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ids, PAD and BOS left out, up to the first EOS (excluded) where the specials have
        one: a decoder's output as text."""
        left_out = {self.pad_id, self.bos_id}
        tokens = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i not in left_out:
                tokens.append(self.tokens[i])
        return tokens

    def to_json(self) -> dict[str, object]:
        recorded: dict[str, object] = {"format": self.specials.format, "version": VOCABULARY_VERSION}
        if self.tokenizer is not None:
            recorded |= {"tokenizer": self.tokenizer, "lowercase": self.lowercase}
        return recorded | self.specials.ids | {"tokens": list(self.tokens)}

    @classmethod
    def from_json(cls, data: dict[str, object], specials: SpecialTokens = TEXT_SPECIALS) -> Vocabulary:
        """The vocabulary `to_json` gave, refused (DlrunError) unless it was written with `specials`."""
        tokens = list(data.get("tokens", []))  # type: ignore[call-overload]
        written_ids = {key: data.get(key) for key in specials.ids}
        first = tuple(tokens[: len(specials.tokens)])
        if data.get("format") != specials.format or written_ids != specials.ids or first != specials.tokens:
            expected = ", ".join(f"{token} at id {i}" for i, token in enumerate(specials.tokens))
            raise DlrunError(
                f"This vocabulary (format {data.get('format')!r}) puts its special tokens at {written_ids}, but "
                f"dlrun reads it only as a {specials.format} with {expected} (as it writes them)."
            )
        tokenizer = data.get("tokenizer")
        return cls(
            tokens[len(specials.tokens) :],
            None if tokenizer is None else str(tokenizer),
            bool(data.get("lowercase", True)),
            specials,
        )

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
            raise DlrunError(f'\'{path}\' is not a dlrun vocabulary (no "format": "{VOCABULARY_FORMAT}" in it).')
        return cls.from_json(data)
