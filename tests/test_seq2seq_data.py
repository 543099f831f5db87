"""Procedural seq2seq data: generators checked by independent computation, the batch layout, special
ids, seeding, split overlap, length buckets, per-batch trimming, errors."""

from __future__ import annotations

import datetime
import re
from collections import Counter

import numpy as np
import pytest
import torch

from dlrun.data.padding import trim_to_longest
from dlrun.data.seq2seq import (
    BOS_ID,
    DATE_FORMATS,
    EOS_ID,
    PAD_ID,
    SEQ2SEQ_SPECIALS,
    UNK_ID,
    ProceduralSeq2SeqDataModule,
    Seq2SeqSplits,
    Seq2SeqVocab,
    addition,
    assign_buckets,
    copy,
    dates,
    default_length_buckets,
    encode_pairs,
    parse_length_buckets,
    reverse,
    sort,
    symbol_vocabulary,
)
from dlrun.data.seq2seq.module import source_overlap
from dlrun.data.text_vocabulary import Vocabulary
from dlrun.errors import ConfigError

SMALL = dict(train_size=200, val_size=50, test_size=50)
KEYS = {"source", "source_lengths", "target_in", "target_out", "target_lengths"}


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---------------------------------------------------------------------------------------------
# Generators


@pytest.mark.parametrize("generator", [reverse, copy, sort])
def test_symbol_problems_by_independent_computation(generator):
    pairs = generator(rng(1), 300, vocab_size=13, min_length=3, max_length=7)
    assert len(pairs) == 300
    lengths = Counter(len(s) for s, _ in pairs)
    assert set(lengths) == set(range(3, 8))  # every length in bounds appears, none outside
    for source, target in pairs:
        assert all(tok in {str(i) for i in range(13)} for tok in source)
        values = [int(t) for t in source]
        expected = {
            reverse: values[::-1],
            copy: values,
            sort: sorted(values),  # numeric order: "2" before "10"
        }[generator]
        assert [int(t) for t in target] == expected
    assert any(int(t) >= 10 for s, _ in pairs for t in s)  # multi-character symbols are single tokens


def test_copy_source_and_target_are_separate_lists():
    source, target = copy(rng(), 1, 5, 3, 3)[0]
    target.append("x")
    assert len(source) == 3


def test_addition_sums_and_operand_widths():
    pairs = addition(rng(2), 500, min_length=1, max_length=4)
    widths = set()
    for source, target in pairs:
        text = "".join(source)
        assert source == list(text) and re.fullmatch(r"\d+\+\d+", text)
        left, right = text.split("+")
        for operand in (left, right):
            assert 1 <= len(operand) <= 4
            assert len(operand) == 1 or operand[0] != "0"  # no leading zeros
            widths.add(len(operand))
        assert int("".join(target)) == int(left) + int(right)
        assert target == list(str(int(left) + int(right)))
    assert widths == {1, 2, 3, 4}


# Independent parsers of the formats, with the standard library (English month names).
PARSERS = {
    "d MMMM yyyy": "%d %B %Y",
    "MMMM d, yyyy": "%B %d, %Y",
    "mm/dd/yy": "%m/%d/%y",
    "EEEE, MMMM d, yyyy": "%A, %B %d, %Y",
    "yyyy-m-d": "%Y-%m-%d",
    "d.m.yyyy": "%d.%m.%Y",
    "mmm d yy": "%b %d %y",
    "dd MMM yyyy": "%d %b %Y",
    "m/d/yyyy": "%m/%d/%Y",
    "EEE d MMM yyyy": "%a %d %b %Y",
    "MMMM dth, yyyy": "%B %d, %Y",
    "dd.mm.yy": "%d.%m.%y",
    "D MMMM YYYY": "%d %B %Y",
    "yyyymmdd": "%Y%m%d",
}


def parse_human_date(text: str, name: str) -> datetime.date | None:
    if name == "MMMM dth, yyyy":
        match = re.fullmatch(r"(\w+ \d+)(st|nd|rd|th)(, \d{4})", text)
        if not match:
            return None
        text = match.group(1) + match.group(3)
    try:
        parsed = datetime.datetime.strptime(text, PARSERS[name]).date()
    except ValueError:
        return None
    # strptime reads two-digit years as 1969-2068; the data's window is 1950-2049.
    if "%y" in PARSERS[name] and parsed.year >= 2050:
        parsed = parsed.replace(year=parsed.year - 100)
    # Weekday names must be the date's own.
    if "%A" in PARSERS[name] or "%a" in PARSERS[name]:
        weekday = text.split()[0].rstrip(",")
        if weekday != parsed.strftime("%A" if "%A" in PARSERS[name] else "%a"):
            return None
    return parsed


def test_dates_parse_back_to_their_iso_target_in_every_format():
    assert set(PARSERS) == set(DATE_FORMATS)
    pairs = dates(rng(3), 1500)
    seen_formats: Counter[str] = Counter()
    years = set()
    for source, target in pairs:
        text, iso = "".join(source), "".join(target)
        assert source == list(text) and target == list(iso)
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", iso)
        day = datetime.date.fromisoformat(iso)
        assert datetime.date(1950, 1, 1) <= day <= datetime.date(2049, 12, 31)
        years.add(day.year)
        readings = {name: parse_human_date(text, name) for name in PARSERS}
        matched = {name for name, parsed in readings.items() if parsed is not None}
        assert matched, f"no parser reads {text!r}"
        # Every format that can read the text reads the same date: the ISO target (no ambiguity).
        assert {readings[name] for name in matched} == {day}, text
        seen_formats.update(matched)
    assert set(seen_formats) == set(DATE_FORMATS)  # every format appears
    assert min(years) < 1960 and max(years) > 2040


def test_dates_other_direction_and_determinism():
    forward = dates(rng(4), 50)
    backward = dates(rng(4), 50, to_iso=False)
    assert backward == [(t, s) for s, t in forward]
    assert dates(rng(4), 50) == forward and dates(rng(5), 50) != forward


@pytest.mark.parametrize("generator", [reverse, copy, sort, addition])
def test_generators_are_deterministic_per_seed(generator):
    assert generator(rng(7), 40) == generator(rng(7), 40)
    assert generator(rng(7), 40) != generator(rng(8), 40)


# ---------------------------------------------------------------------------------------------
# Vocabulary and batches


def test_special_ids_distinct_and_symbols_after_them():
    assert len({PAD_ID, UNK_ID, BOS_ID, EOS_ID}) == 4 and PAD_ID == 0 and UNK_ID == 1
    vocab = symbol_vocabulary(["a", "b"])
    assert len(vocab) == 6 and vocab.encode(["a", "b", "zz"]) == [4, 5, UNK_ID]
    assert vocab.decode([BOS_ID, 4, 5, EOS_ID, 4, PAD_ID]) == ["a", "b"]
    assert Vocabulary.from_json(vocab.to_json(), SEQ2SEQ_SPECIALS) == vocab
    with pytest.raises(ValueError):
        symbol_vocabulary(["a", "<s>"])
    with pytest.raises(ValueError):
        Seq2SeqVocab(5, 5, pad_id=0, bos_id=0)


def test_encode_pairs_layout_and_shift():
    pairs = reverse(rng(9), 64, vocab_size=6, min_length=1, max_length=9)
    vocab = symbol_vocabulary([str(i) for i in range(6)])
    batch = encode_pairs(pairs, vocab, vocab)
    assert set(batch) == KEYS
    assert all(t.dtype == torch.int64 and t.device.type == "cpu" for t in batch.values())
    n = len(pairs)
    assert batch["source"].shape == (n, max(len(s) for s, _ in pairs))
    assert batch["target_in"].shape == batch["target_out"].shape == (n, max(len(t) for _, t in pairs) + 1)
    for i, (source, target) in enumerate(pairs):
        s_len, t_len = int(batch["source_lengths"][i]), int(batch["target_lengths"][i])
        assert s_len == len(source) and t_len == len(target) + 1
        assert vocab.decode(batch["source"][i]) == source
        assert (batch["source"][i, s_len:] == PAD_ID).all() and (batch["source"][i, :s_len] >= 4).all()
        target_in, target_out = batch["target_in"][i], batch["target_out"][i]
        assert target_in[0] == BOS_ID and target_out[t_len - 1] == EOS_ID
        assert torch.equal(target_in[1:t_len], target_out[: t_len - 1])
        assert vocab.decode(target_out) == target
        assert (target_in[t_len:] == PAD_ID).all() and (target_out[t_len:] == PAD_ID).all()
        assert not (target_in[1:t_len] == BOS_ID).any() and not (target_out[: t_len - 1] == EOS_ID).any()


def test_trimming_cuts_each_side_by_its_own_lengths():
    pairs = [(list("1234567"), list("12")), (list("12"), list("1234")), (list("123"), list("1"))]
    vocab = symbol_vocabulary(list("1234567"))
    full = encode_pairs(pairs, vocab, vocab)
    batch = {k: v[1:] for k, v in full.items()}  # sources of 2 and 3 tokens, targets of 4 and 1 (+ EOS)
    trimmed = trim_to_longest(batch)
    assert trimmed["source"].shape == (2, 3) and trimmed["target_in"].shape == trimmed["target_out"].shape == (2, 5)
    assert torch.equal(trimmed["source"], full["source"][1:, :3])
    assert torch.equal(trimmed["target_out"], full["target_out"][1:, :5])
    assert torch.equal(trimmed["source_lengths"], batch["source_lengths"])
    only_last = trim_to_longest({k: v[2:] for k, v in full.items()})
    assert only_last["source"].shape == (1, 3) and only_last["target_in"].shape == (1, 2)
    assert trim_to_longest(full)["source"] is full["source"]  # nothing to cut: untouched


# ---------------------------------------------------------------------------------------------
# Buckets


def test_length_buckets_parse_and_assign():
    assert parse_length_buckets(["5-14", "15-24", "25-50"]) == [(5, 14), (15, 24), (25, 50)]
    assert parse_length_buckets([[1, 4], [6, 9], 10]) == [(1, 4), (6, 9), (10, 10)]
    assert parse_length_buckets("1-4, 5-8") == [(1, 4), (5, 8)]
    assert default_length_buckets(5, 50) == [(5, 14), (15, 24), (25, 34), (35, 44), (45, 50)]
    index = assign_buckets(torch.tensor([1, 4, 5, 6, 9, 10, 11]), [(1, 4), (6, 9), (10, 10)])
    assert index.tolist() == [0, 0, -1, 1, 1, 2, -1]


@pytest.mark.parametrize(
    "spec, words",
    [
        (["5-14", "10-20"], "overlap"),
        (["15-24", "5-14"], "not sorted"),
        (["9-3"], "empty"),
        (["five-six"], "cannot read"),
        ([], "empty"),
        (12.5, "must be a list"),
    ],
)
def test_bad_length_buckets(spec, words):
    with pytest.raises(ConfigError, match="data.length_buckets") as error:
        parse_length_buckets(spec)
    assert words in str(error.value)


# ---------------------------------------------------------------------------------------------
# Splits and the data module


def test_module_serves_the_layout_with_eval_lengths_and_vocab():
    dm = ProceduralSeq2SeqDataModule(
        "reverse", vocab_size=7, min_length=3, max_length=6, eval_min_length=5, eval_max_length=12, **SMALL
    )
    for split, size, (low, high) in (("train", 200, (3, 6)), ("val", 50, (5, 12)), ("test", 50, (5, 12))):
        batch = dm.split(split)
        assert set(batch) == KEYS and len(batch["source"]) == size
        lengths = batch["source_lengths"]
        assert low <= int(lengths.min()) and int(lengths.max()) <= high
        assert torch.equal(batch["target_lengths"], lengths + 1)
        for i, (source, target) in enumerate(dm.pairs[split]):
            assert dm.source_vocab.decode(batch["source"][i]) == source
            assert dm.target_vocab.decode(batch["target_out"][i]) == source[::-1] == target
    assert int(dm.split("val")["source_lengths"].max()) > 6  # evaluation goes longer than training
    vocab = dm.vocab
    assert (vocab.source_vocab_size, vocab.target_vocab_size) == (11, 11)
    assert (vocab.pad_id, vocab.unk_id, vocab.bos_id, vocab.eos_id) == (PAD_ID, UNK_ID, BOS_ID, EOS_ID)
    assert vocab.max_source_length == dm.spec.max_length == 12 and vocab.max_target_length == 13
    assert dm.length_buckets == [(5, 12)]
    assert dm.buckets_of("test").tolist() == [0] * 50


def test_module_buckets_given():
    dm = ProceduralSeq2SeqDataModule("copy", min_length=1, max_length=9, length_buckets=["1-4", "5-9"], **SMALL)
    lengths = dm.split("val")["source_lengths"]
    assert torch.equal(dm.buckets_of("val"), (lengths >= 5).long())
    assert dm.bucket_names() == ["1-4", "5-9"]


@pytest.mark.parametrize("problem", ["reverse", "copy", "sort", "addition", "dates"])
def test_each_problem_through_the_module(problem):
    dm = ProceduralSeq2SeqDataModule(problem, min_length=2, max_length=4, **SMALL)
    for split in ("train", "val", "test"):
        batch = dm.split(split)
        assert (batch["source"] != UNK_ID).all() and (batch["target_out"] != UNK_ID).all()
        for source, target in dm.pairs[split][:20]:
            text = "".join(source)
            if problem == "addition":
                left, right = text.split("+")
                assert int("".join(target)) == int(left) + int(right) and 2 <= len(left) <= 4
            if problem == "dates":
                assert len(target) == 10


def test_splits_are_deterministic_and_independent_of_other_sizes():
    a = ProceduralSeq2SeqDataModule("reverse", generator_seed=3, **SMALL)
    b = ProceduralSeq2SeqDataModule("reverse", generator_seed=3, train_size=500, val_size=50, test_size=80)
    c = ProceduralSeq2SeqDataModule("reverse", generator_seed=4, **SMALL)
    again = ProceduralSeq2SeqDataModule("reverse", generator_seed=3, **SMALL)
    for split in ("train", "val", "test"):
        assert all(torch.equal(a.split(split)[key], again.split(split)[key]) for key in KEYS)
    assert a.pairs["val"] == b.pairs["val"]  # other splits' sizes change nothing
    assert a.pairs["train"] == b.pairs["train"][:200] and a.pairs["test"] == b.pairs["test"][:50]
    assert a.pairs["train"] != c.pairs["train"]


def test_splits_share_no_source_where_the_space_allows():
    # Reverse over 10 symbols at length 5: 100,000 sources; independent draws of 5,000 and 1,000
    # would share ~50 of them.
    splits = Seq2SeqSplits("reverse", 10, 5, 5, 5, 5, 5000, 1000, 1000, generator_seed=0)
    pairs = splits.all_splits()
    assert source_overlap(pairs) == {"val": 0, "test": 0, "test_val": 0}
    train = {tuple(s) for s, _ in pairs["train"]}
    assert not any(tuple(s) in train for s, _ in pairs["test"])  # checked directly as well
    # Independent draws (no partition) would overlap: the check above can fail.
    naive_train = {tuple(s) for s, _ in reverse(rng(0), 5000, 10, 5, 5)}
    assert sum(tuple(s) in naive_train for s, _ in reverse(rng(1), 1000, 10, 5, 5)) > 10


def test_overlap_is_reported_where_the_space_is_too_small():
    dm = ProceduralSeq2SeqDataModule("copy", vocab_size=2, min_length=1, max_length=3, **SMALL)
    dm.setup()
    train = {tuple(s) for s, _ in dm.pairs["train"]}
    expected = sum(tuple(s) in train for s, _ in dm.pairs["test"])
    assert dm.overlap["test"] == expected > 0
    # Lengths stay uniform despite the rejection: every length appears in a small split.
    assert set(dm.split("val")["source_lengths"].tolist()) == {1, 2, 3}


# ---------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    "arguments, key",
    [
        (dict(problem="revrse"), "data.problem"),
        (dict(min_length=6, max_length=5), "data.min_length"),
        (dict(eval_min_length=9, eval_max_length=8), "data.eval_min_length"),
        (dict(min_length=0), "data.min_length"),
        (dict(train_size=0), "data.train_size"),
        (dict(val_size=-1), "data.val_size"),
        (dict(test_size=1.5), "data.test_size"),
        (dict(vocab_size=1), "data.vocab_size"),
        (dict(generator_seed=-1), "data.generator_seed"),
        (dict(length_buckets=["5-14", "10-20"]), "data.length_buckets"),
    ],
)
def test_config_errors_name_the_key(arguments, key):
    with pytest.raises(ConfigError, match=re.escape(key)) as error:
        ProceduralSeq2SeqDataModule(**{**SMALL, **arguments})
    if key == "data.problem":
        assert "Did you mean reverse?" in str(error.value)


def test_lengths_and_vocab_size_ignored_where_they_do_not_apply():
    dm = ProceduralSeq2SeqDataModule("dates", vocab_size=1, min_length=9, max_length=3, **SMALL)
    assert len(dm.split("train")["source"]) == 200
