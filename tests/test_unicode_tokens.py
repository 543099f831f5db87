"""The `word` and `char` tokenizers keep combining marks with their letters in every script: a word keeps
its vowel signs, tone marks, harakat and accents, `char` yields grapheme clusters, and text is read in
Unicode NFC, so a composed and a decomposed "é" are the same token. The expected tokens are written
out by hand (a line's comment says what is in it where the marks are hard to see)."""

from __future__ import annotations

import json
import random
import re
import unicodedata
from pathlib import Path

import pytest

from dlrun.data.seq2seq.parallel import ParallelTSVDataModule, read_parallel_tsv
from dlrun.data.text_vocabulary import Vocabulary, char_tokens, word_tokens

TOY = Path(__file__).parent / "data" / "en_hi_toy.tsv"

WORDS = [
    # Devanagari (Hindi): vowel signs (ा ि ी ु े ै), anusvara, chandrabindu, the danda.
    ("मेरा नाम सजल है", ["मेरा", "नाम", "सजल", "है"]),
    ("मुझे हिंदी आती है।", ["मुझे", "हिंदी", "आती", "है", "।"]),
    ("गाँव कहाँ है?", ["गाँव", "कहाँ", "है", "?"]),
    # Thai: tone marks and vowel signs above and below; no spaces between words, so one token per run.
    ("ฉันกินน้ำ ที่บ้าน", ["ฉันกินน้ำ", "ที่บ้าน"]),
    # Arabic with harakat (fatha, damma).
    ("كَتَبَ الوَلَدُ", ["كَتَبَ", "الوَلَدُ"]),
    # Bengali and Tamil: vowel signs, the Tamil pulli (virama).
    ("আমার নাম রবি।", ["আমার", "নাম", "রবি", "।"]),
    ("நன்றி தமிழ்", ["நன்றி", "தமிழ்"]),
    # Latin: decomposed e + U+0301 is composed; accents kept.
    ("Cafe\u0301 au lait", ["caf\u00e9", "au", "lait"]),
    ("Caf\u00e9 au lait", ["caf\u00e9", "au", "lait"]),
    # e + dot below + circumflex, in either order, is U+1EC7 (canonical reordering, then composition).
    ("Tie\u0323\u0302ng Vie\u0302\u0323t", ["ti\u1ec7ng", "vi\u1ec7t"]),
    # q + tilde has no composed form: the mark stays on its letter.
    ("Aq\u0303a!", ["aq\u0303a", "!"]),
]

CHARS = [
    ("मेरा नाम", ["मे", "रा", " ", "ना", "म"]),
    # A conjunct (consonant + virama + consonant) is one cluster: स्ते, क्ष, त्रि.
    ("नमस्ते", ["न", "म", "स्ते"]),
    ("क्षत्रिय", ["क्ष", "त्रि", "य"]),
    ("गाँव", ["गाँ", "व"]),
    # Thai: น้ำ is one cluster (tone mark, then SARA AM); the vowel า stands alone.
    ("น้ำ ที่บ้าน", ["น้ำ", " ", "ที่", "บ้", "า", "น"]),
    ("كَتَبَ", ["كَ", "تَ", "بَ"]),
    ("আমার", ["আ", "মা", "র"]),
    ("தமிழ் நன்றி", ["த", "மி", "ழ்", " ", "ந", "ன்", "றி"]),
    ("Cafe\u0301", ["c", "a", "f", "\u00e9"]),
    ("Caf\u00e9", ["c", "a", "f", "\u00e9"]),
    ("q\u0303 x", ["q\u0303", " ", "x"]),
    # The nukta letter U+095C is not kept composed by NFC: it becomes ड + ़ (U+0921 U+093C) either way.
    ("\u095c\u093e", ["\u0921\u093c\u093e"]),
    ("\u0921\u093c\u093e", ["\u0921\u093c\u093e"]),
]


def starts_with_mark(token: str) -> bool:
    return unicodedata.category(token[0]).startswith("M")


@pytest.mark.parametrize(("text", "tokens"), WORDS)
def test_word_tokens_keep_marks_on_their_letters(text, tokens):
    assert word_tokens(text) == tokens
    assert not any(starts_with_mark(t) for t in word_tokens(text))


@pytest.mark.parametrize(("text", "tokens"), CHARS)
def test_char_tokens_are_grapheme_clusters(text, tokens):
    assert char_tokens(text) == tokens
    assert "".join(char_tokens(text)) == unicodedata.normalize("NFC", text).lower()


def test_composed_and_decomposed_text_give_the_same_tokens():
    composed = "Élève à Montréal, naïve"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    for tokenize in (word_tokens, char_tokens):
        for lowercase in (True, False):
            assert tokenize(decomposed, lowercase) == tokenize(composed, lowercase)
    assert word_tokens(decomposed, lowercase=False) == ["\u00c9l\u00e8ve", "\u00e0", "Montr\u00e9al", ",", "na\u00efve"]


def test_symbols_keep_what_rides_on_them():
    # A thumbs-up with a skin tone, a heart with its emoji presentation selector: one token each.
    assert word_tokens("ok \U0001f44d\U0001f3fd \u2764\ufe0f!") == ["ok", "\U0001f44d\U0001f3fd", "\u2764\ufe0f", "!"]


# The tokenizer dlrun had before combining marks were kept (Python's `re`): on text without them, the
# tokens must be exactly the same.
_FORMER_WORD = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def former_word_tokens(text: str) -> list[str]:
    return _FORMER_WORD.findall(text.translate({0x2019: "'"}).lower())


ENGLISH = [
    "Isn't it great?!",
    "Don\u2019t   GO.",
    "'Too clever by half.'",
    "A well-made, 3.5-star film (sort of) -- 2 hours & $10 @ the_cinema #1",
    "rock'n'roll... Amélie's naïve x² ½",
    '"Quotes" [brackets] {braces} <angles> a/b a\\b 50% ~tilde `tick` ^caret |pipe| *star* +plus= ;;',
]


def test_english_tokens_are_what_they_were():
    rng = random.Random(0)
    alphabet = "abcXYZ09 '\u2019_-.,!?\"()\t\n"
    texts = ENGLISH + ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(500)]
    for text in texts:
        assert word_tokens(text) == former_word_tokens(text), text
        collapsed = " ".join(text.split())
        assert char_tokens(text) == list(collapsed.lower()), text
    assert word_tokens("Isn't IT", lowercase=False) == ["Isn't", "IT"]


def test_a_hindi_vocabulary_encodes_and_decodes_the_same_words():
    texts = ["मेरा नाम सजल है", "यह एक बड़ा घर है", "मुझे हिंदी आती है", "गाँव कहाँ है"]
    words = Vocabulary.build([word_tokens(t) for t in texts], tokenizer="word")
    assert {"मेरा", "नाम", "बड़ा", "गाँव", "कहाँ", "मुझे", "हिंदी"} <= set(words.symbols)
    assert not any(starts_with_mark(t) for t in words.symbols)
    for text in texts:
        ids = words.encode_text(text)
        assert words.unk_id not in ids
        assert " ".join(words.decode(ids)) == unicodedata.normalize("NFC", text)
    chars = Vocabulary.build([char_tokens(t) for t in texts], tokenizer="char")
    assert {"मे", "रा", "गाँ", "हिं"} <= set(chars.symbols)
    for text in texts:
        assert "".join(chars.decode(chars.encode_text(text))) == unicodedata.normalize("NFC", text)


def test_the_toy_file_keeps_hindi_words_whole(tmp_path):
    rows = read_parallel_tsv(TOY)
    assert len(rows) >= 300
    assert all(unicodedata.is_normalized("NFC", hindi) for _, hindi in rows)
    module = ParallelTSVDataModule(TOY)
    module.setup()
    symbols = module.target_vocab.symbols
    assert {"मेरा", "नाम", "बड़ा", "गाँव", "किताब", "पढ़ता", "चिट्ठी", "।"} <= set(symbols)
    assert not any(starts_with_mark(t) for t in symbols)
    # Every target token is a whole word of the file: a space-separated run, without its final danda or
    # question mark, or that mark itself.
    assert set(symbols) <= file_words(rows)
    source, target = module.pairs["train"][0]
    assert module.join_target(target).replace(" ।", "।").replace(" ?", "?") in {hindi for _, hindi in rows}
    module.save_preprocessing(tmp_path)
    saved = json.loads((tmp_path / "seq2seq_vocab.json").read_text(encoding="utf-8"))
    assert "मेरा" in saved["target"]["tokens"]


def file_words(rows) -> set[str]:
    words = {word for _, hindi in rows for word in hindi.split()}
    return {word.rstrip("।?") for word in words} | {"।", "?"}


@pytest.mark.slow
def test_translate_prints_whole_hindi_words(dlrun, tmp_path):
    """Train English -> Hindi on the toy file through the CLI, translate, and read whole Devanagari
    words: never a token that starts with a vowel sign or other mark (`म ु झ े`)."""
    trained = dlrun(
        "train",
        "data=parallel_tsv",
        f"data.path={TOY}",
        "model=seq2seq",
        "model.hidden_size=32",
        "model.embedding_size=16",
        "optimizer.lr=0.01",
        "trainer.max_epochs=6",
        "data.batch_size=32",
        "data.steps_per_execution=1",
        "logger=none",
        "hydra.run.dir=en_hi_run",
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    done = dlrun("translate", "en_hi_run", "My name is Ravi.", "This is a big house.", "Priya reads a book.")
    assert done.returncode == 0, done.stderr
    outputs = done.stdout.splitlines()
    assert len(outputs) == 3, done.stdout
    tokens = [token for line in outputs for token in line.split()]
    assert tokens, done.stdout
    assert not any(starts_with_mark(t) for t in tokens), outputs
    assert set(tokens) <= file_words(read_parallel_tsv(TOY)), outputs
    assert any("\u0900" <= ch <= "\u097f" for ch in "".join(tokens)), outputs
