"""Parallel text data: the bible_en_es extraction (cleaning, join, length filter), the bundled file,
and ParallelTextDataModule (vocabularies from train only, tokenizers per side, shared vocabulary,
TSV errors, the batch layout)."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from dlrun.data.seq2seq import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    BibleEnEsDataModule,
    ParallelTextDataModule,
    ParallelTSVDataModule,
    read_parallel_tsv,
)
from dlrun.data.seq2seq.parallel import BIBLE_EN_ES
from dlrun.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("extract_bible_en_es", ROOT / "scripts" / "extract_bible_en_es.py")
extract = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(extract)

BIBLE_PAIRS = 6127


# ---------------------------------------------------------------------------------------------
# Extraction


def test_clean_removes_word_tags_and_keeps_their_text():
    osis = (
        '<w lemma="strong:H0430">God</w> <w lemma="strong:H0559">said</w>, '
        '<q marker="" who="God">“<w>Let</w> there be light.”</q>'
    )
    assert extract.clean_osis(osis) == "God said, “Let there be light.”"


def test_clean_drops_notes_with_their_content_without_joining_words():
    osis = (
        'the <w>God</w><note placement="foot"><reference type="annotateRef">1:1 </reference>The Hebrew '
        '<rdg type="alternate">word</rdg>.</note><w>created</w> the earth<note n="b">x</note>.'
    )
    assert extract.clean_osis(osis) == "the God created the earth."


def test_clean_drops_titles_and_speakers_and_structural_tags():
    osis = (
        '<div type="x-milestone" sID="pv1"/><title canonical="true" type="psalm">A Psalm by David.</title> '
        '<lg sID="g1"/><l level="1" sID="g2"/>Yahweh, how my adversaries have increased!<l eID="g2"/>'
        '<l level="2" sID="g3"/>Many rise.<lb/>'
        "<speaker>Beloved</speaker>Come"
    )
    assert extract.clean_osis(osis) == "Yahweh, how my adversaries have increased! Many rise. Come"


def test_clean_unescapes_entities():
    assert extract.clean_osis("<w>Tom</w> &amp; <w>Jerry</w> &lt;3 &#233;") == "Tom & Jerry <3 é"


def test_fix_spacing_before_punctuation_and_after_opening_marks():
    spaced = "  Y dijo :  ¿ Quién  es ? ¡ OH Jehová ! ( Selah . ) "
    assert extract.fix_spacing(spaced) == "Y dijo: ¿Quién es? ¡OH Jehová! (Selah.)"
    assert extract.fix_spacing("“ Let’s go ” , he said .") == "“Let’s go”, he said."
    # An apostrophe inside a word is not a closing quote.
    assert extract.fix_spacing("God’s people") == "God’s people"


IMP_EN = """$$$[ Module Heading ]

$$$Genesis 0:0
<title>Genesis</title>
$$$Genesis 1:0
<chapter n="1"/>
$$$Genesis 1:1
<w>In</w> the beginning.
$$$Genesis 1:2
<w>Only</w> in English.
$$$Genesis 1:3
<note>empty after cleaning</note>
$$$Genesis 1:10
one two three four five six
$$$Exodus 1:1
Now these are the names.
"""
IMP_ES = """$$$[ Module Heading ]
$$$Exodus 1:1
ESTOS son los nombres.
$$$Genesis 1:1
<w>EN el</w> principio.
$$$Genesis 1:3
Algo.
$$$Genesis 1:10
uno dos
$$$Genesis 1:11
Solo en español.
"""


def test_parse_imp_drops_headings_and_zero_verses():
    verses = extract.parse_imp(IMP_EN)
    assert list(verses) == ["Genesis 1:1", "Genesis 1:2", "Genesis 1:3", "Genesis 1:10", "Exodus 1:1"]


def test_join_on_verse_keys_in_english_order_dropping_empty_sides():
    pairs = extract.join_verses(extract.parse_imp(IMP_EN), extract.parse_imp(IMP_ES))
    assert pairs == [
        ("In the beginning.", "EN el principio.", "Genesis 1:1"),
        ("one two three four five six", "uno dos", "Genesis 1:10"),
        ("Now these are the names.", "ESTOS son los nombres.", "Exodus 1:1"),
    ]


def test_length_filter_needs_both_sides_short():
    pairs = [("a b c", "x y", "k1"), ("a b c d", "x", "k2"), ("a", "w x y z", "k3")]
    assert extract.filter_length(pairs, 3) == [("a b c", "x y", "k1")]
    assert extract.filter_length(pairs, 4) == pairs


def test_tsv_gz_is_deterministic(tmp_path):
    pairs = [("In the beginning.", "EN el principio.", "Genesis 1:1")]
    data = extract.to_tsv_gz(pairs)
    assert data == extract.to_tsv_gz(pairs)
    assert data[4:8] == b"\0\0\0\0"  # mtime 0
    assert gzip.decompress(data).decode() == "In the beginning.\tEN el principio.\tGenesis 1:1\n"


def test_main_on_imp_files(tmp_path, capsys):
    (tmp_path / "web.imp").write_text(IMP_EN)
    (tmp_path / "rv.imp").write_text(IMP_ES)
    out = tmp_path / "out.tsv.gz"
    args = ["--english", str(tmp_path / "web.imp"), "--spanish", str(tmp_path / "rv.imp"), "--output", str(out)]
    assert extract.main([*args, "--max-words", "5"]) == 0
    assert [row[2] for row in read_parallel_tsv(out, fields=3)] == ["Genesis 1:1", "Exodus 1:1"]
    assert "pairs of at most 5 words a side: 2" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# The bundled file


@pytest.fixture(scope="module")
def bible_rows():
    return read_parallel_tsv(BIBLE_EN_ES, fields=3)


def test_bundled_file_count_and_fields(bible_rows):
    assert len(bible_rows) == BIBLE_PAIRS
    assert all(en and es and key for en, es, key in bible_rows)
    assert all(len(en.split()) <= 15 and len(es.split()) <= 15 for en, es, _ in bible_rows)
    assert bible_rows[0][2] == "Genesis 1:1" and bible_rows[-1][2].startswith("Revelation of John")
    assert ("Jesus wept.", "Y lloró Jesús.", "John 11:35") in bible_rows
    assert not any("<" in en or "<" in es or "&amp;" in en for en, es, _ in bible_rows)
    assert len({key for _, _, key in bible_rows}) == BIBLE_PAIRS


@pytest.fixture(scope="module")
def bible():
    module = BibleEnEsDataModule(min_freq=2)
    module.setup()
    return module


def test_bible_module_splits_and_layout(bible):
    sizes = {name: len(pairs) for name, pairs in bible.pairs.items()}
    assert sum(sizes.values()) + bible.duplicates == BIBLE_PAIRS
    assert sizes["val"] == sizes["test"] == pytest.approx(0.1 * (BIBLE_PAIRS - bible.duplicates), abs=1)
    assert bible.overlap == {"val": 0, "test": 0, "test_val": 0}  # deduplicated sources
    assert bible.dropped == {"train": 0}
    batch = bible.split("val")
    assert {k: v.dtype for k, v in batch.items()} == dict.fromkeys(
        ("source", "source_lengths", "target_in", "target_out", "target_lengths"), torch.int64
    )
    assert bible.vocab.source_vocab_size == len(bible.source_vocab)
    assert bible.vocab.target_vocab_size == len(bible.target_vocab)
    assert bible.source_vocab is not bible.target_vocab
    assert "jesús" in bible.target_vocab.ids and "jesus" in bible.source_vocab.ids
    assert bible.bucket_names()[0].startswith(str(min(len(s) for s, _ in bible.pairs["val"] + bible.pairs["test"])))
    assert bible.buckets_of("test").min() >= 0
    assert bible.spec.vocab_size == bible.spec.source_vocab_size == len(bible.source_vocab)
    assert bible.spec.target_vocab_size == len(bible.target_vocab)
    assert (bible.spec.task, bible.spec.bos_id, bible.spec.eos_id) == ("seq2seq", BOS_ID, EOS_ID)
    widest = max(bible.split(name)["target_out"].shape[1] for name in ("train", "val", "test"))
    assert bible.spec.max_target_length == bible.vocab.max_target_length == widest


def test_bible_es_en_swaps_sides():
    module = BibleEnEsDataModule(direction="es-en")
    assert module.read()[0] == ("EN el principio crió Dios los cielos y la tierra.", extract_first_english())
    with pytest.raises(ConfigError, match="direction"):
        BibleEnEsDataModule(direction="en-fr")


def extract_first_english() -> str:
    return read_parallel_tsv(BIBLE_EN_ES, fields=3)[0][0]


# ---------------------------------------------------------------------------------------------
# ParallelTextDataModule on small hand-made pairs


class Pairs(ParallelTextDataModule):
    def __init__(self, texts, **options):
        super().__init__(**options)
        self.texts = texts

    def read(self):
        return list(self.texts)


def _hand_pairs(n: int = 40):
    return [(f"the cat {i} sat", f"el gato {i} se sentó") for i in range(n)]


def test_vocabulary_from_training_pairs_only():
    module = Pairs(_hand_pairs(), val_fraction=0.2, test_fraction=0.2)
    module.setup()
    test_only = [s[2] for s, _ in module.pairs["test"]]  # the number is the only unique token
    assert all(token not in module.source_vocab.ids for token in test_only)
    assert all(s[2] in module.source_vocab.ids for s, _ in module.pairs["train"])
    test = module.split("test")
    assert (test["source"][:, 2] == UNK_ID).all()
    assert (test["target_out"][:, 2] == UNK_ID).all()
    assert (test["source"][:, 0] == module.source_vocab.ids["the"]).all()


def test_min_freq_and_max_size():
    texts = [("a a a b b c", "x")] + [(f"a {i}", "x y") for i in range(9)]
    module = Pairs(texts, min_freq=2, val_fraction=0.1, test_fraction=0.1, deduplicate=False)
    module.setup()
    assert module.source_vocab.symbols[0] == "a"
    assert not any(sym.isdigit() for sym in module.source_vocab.symbols)
    capped = Pairs(texts, max_size=1, val_fraction=0.1, test_fraction=0.1)
    capped.setup()
    assert capped.source_vocab.symbols == ["a"]


def test_char_and_word_tokenizers_per_side():
    module = Pairs(_hand_pairs(), source_tokenizer="char", target_tokenizer="word", lowercase=False)
    module.setup()
    source, target = module.pairs["train"][0]
    i = source[8]
    assert source == list(f"the cat {i} sat") and target == ["el", "gato", i, "se", "sentó"]
    assert {"t", "h", " "} <= set(module.source_vocab.symbols)
    assert "gato" in module.target_vocab.symbols
    assert module.tokenize_source("The Cat") == list("The Cat")
    with pytest.raises(ConfigError, match="data.target_tokenizer"):
        Pairs([], target_tokenizer="bpe")


def test_lowercase_and_word_punctuation():
    module = Pairs([("Isn't it great?!", "¿No es genial?")] * 1)
    assert module.tokenize_source("Isn't it great?!") == ["isn't", "it", "great", "?", "!"]
    assert module.tokenize_target("¿No es genial?") == ["¿", "no", "es", "genial", "?"]


def test_shared_vocabulary():
    module = Pairs(_hand_pairs(), shared_vocabulary=True)
    module.setup()
    assert module.source_vocab is module.target_vocab
    assert {"cat", "gato"} <= set(module.source_vocab.symbols)
    assert module.vocab.source_vocab_size == module.vocab.target_vocab_size == len(module.source_vocab)


def test_max_lengths_drop_training_pairs_only():
    texts = [(f"w{i} " * (1 + i % 6), f"v{i} " * (1 + i % 4)) for i in range(60)]
    module = Pairs(texts, max_source_length=3, max_target_length=2, min_freq=1)
    module.setup()
    assert all(len(s) <= 3 and len(t) <= 2 for s, t in module.pairs["train"])
    assert module.dropped["train"] > 0
    assert len(module.pairs["train"]) + module.dropped["train"] + 12 == 60
    evaluation = module.pairs["val"] + module.pairs["test"]
    assert max(len(s) for s, _ in evaluation) > 3  # never cut
    with pytest.raises(ConfigError, match="max_source_length"):
        Pairs(texts, max_source_length=0)


def test_split_is_seeded_and_deduplicated():
    texts = _hand_pairs() + [("the cat 3 sat", "otra traducción")]
    a, b, c = Pairs(texts), Pairs(texts), Pairs(texts, split_seed=1)
    assert a.pairs == b.pairs and a.pairs != c.pairs
    assert a.duplicates == 1
    assert sum(len(p) for p in a.pairs.values()) == 40


def test_encode_layout():
    module = Pairs(_hand_pairs(), val_fraction=0.1, test_fraction=0.1)
    batch = module.split("train")
    n = len(module.pairs["train"])
    assert batch["source"].shape == (n, 4) and batch["target_in"].shape == (n, 6) == batch["target_out"].shape
    assert (batch["source_lengths"] == 4).all() and (batch["target_lengths"] == 6).all()
    assert (batch["target_in"][:, 0] == BOS_ID).all() and (batch["target_out"][:, -1] == EOS_ID).all()
    assert torch.equal(batch["target_in"][:, 1:], batch["target_out"][:, :-1])
    ragged = Pairs([("a " * (1 + i % 3), "b " * (1 + i % 2)) for i in range(30)], deduplicate=False)
    batch = ragged.split("train")
    lengths = batch["source_lengths"]
    assert batch["source"].shape[1] == int(lengths.max()) == 3
    assert (batch["source"][lengths == 1][:, 1:] == PAD_ID).all()
    assert module.vocab.max_target_length == 6


def test_save_preprocessing(tmp_path):
    module = Pairs(_hand_pairs(), source_tokenizer="char")
    module.save_preprocessing(tmp_path)
    data = json.loads((tmp_path / "seq2seq_vocab.json").read_text())
    assert data["source"]["tokens"] == module.source_vocab.tokens
    assert data["target"]["tokens"][:4] == ["<pad>", "<unk>", "<s>", "</s>"]
    assert data["source_tokenizer"] == "char" and data["target_tokenizer"] == "word" and data["lowercase"] is True


# ---------------------------------------------------------------------------------------------
# The user's TSV


def test_tsv_reads_pairs(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("".join(f"hello {i}\thola {i}\r\n" for i in range(20)), encoding="utf-8")
    module = ParallelTSVDataModule(path)
    module.setup()
    assert sum(len(p) for p in module.pairs.values()) == 20
    gz = tmp_path / "pairs.tsv.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert read_parallel_tsv(gz) == read_parallel_tsv(path)
    assert read_parallel_tsv(path)[0] == ("hello 0", "hola 0")


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("a\tb\n\nc\td\n", 2, "is empty"),
        ("a\tb\nc d\n", 2, "1 tab-separated field, not 2"),
        ("a\tb\nc\td\te\n", 2, "3 tab-separated fields"),
        ("a\tb\nc\td\n \tf\n", 3, "blank field"),
    ],
)
def test_tsv_malformed_lines_name_file_and_line(tmp_path, text, line, what):
    path = tmp_path / "bad.tsv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"line {line} of '{path}'.*{what}"):
        ParallelTSVDataModule(path).setup()


def test_tsv_missing_or_empty(tmp_path):
    with pytest.raises(ConfigError, match="does not exist.*data=parallel_tsv data.path="):
        ParallelTSVDataModule(tmp_path / "nope.tsv").setup()
    with pytest.raises(ConfigError, match="data.path is not set.*data=parallel_tsv"):
        ParallelTSVDataModule(None)
    (tmp_path / "empty.tsv").write_text("")
    with pytest.raises(ConfigError, match="is empty"):
        ParallelTSVDataModule(tmp_path / "empty.tsv").setup()


# ---------------------------------------------------------------------------------------------
# The configs


@pytest.mark.parametrize("name", ["bible_en_es", "parallel_tsv"])
def test_configs_compose(name):
    from dlrun.config.compose import ConfigSource

    cfg = ConfigSource().compose([f"data={name}"])
    assert cfg.data._target_.startswith("dlrun.data.seq2seq.")
    assert (cfg.data.batch_size, cfg.data.eval_batch_size, cfg.data.steps_per_execution) == (64, 256, 4)
    assert cfg.monitor == "val/token_acc"
