"""AttentionMaps: attention heat maps and sample translations in TensorBoard, and what they draw."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import build_from_overrides
from helpers import tensorboard_dir
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from dlrun.callbacks import AttentionMaps
from dlrun.callbacks.attention_maps import (
    attention_table,
    decode_examples,
    draw_attention,
    samples_markdown,
    token_names,
)
from dlrun.data.seq2seq.vocabulary import symbol_vocabulary

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore:.*treespec.*")

TINY_SEQ2SEQ = (
    "data=reverse",
    "model=seq2seq",
    "model.hidden_size=16",
    "model.embedding_size=8",
    "data.train_size=256",
    "data.val_size=32",
    "data.test_size=32",
    "logger=tensorboard",
    "trainer.max_epochs=1",
)


def fit_and_test(tmp_path, *overrides):
    run = build_from_overrides(tmp_path, *overrides)
    run.trainer.fit(run.task, datamodule=run.datamodule)
    run.trainer.test(run.task, datamodule=run.datamodule, verbose=False)
    events = EventAccumulator(str(tensorboard_dir(tmp_path / "run")), size_guidance={"images": 0, "tensors": 0})
    events.Reload()
    return run, events


def samples_text(events: EventAccumulator, tag: str) -> str:
    [event] = events.Tensors(f"{tag}/text_summary")  # add_text writes the tag with this suffix
    return event.tensor_proto.string_val[0].decode()


# -- what is drawn, by hand ---------------------------------------------------------------------


def test_attention_table_trims_to_the_real_source_and_the_output_up_to_eos():
    # 4 output steps over a source padded to 5; the real source has 3 tokens, EOS at step 3.
    weights = np.arange(20, dtype=float).reshape(4, 5)
    matrix, x_labels, y_labels = attention_table(weights, ["a", "b", "c"], ["c", "b", "</s>", "x"])
    np.testing.assert_array_equal(matrix, [[0, 1, 2], [5, 6, 7], [10, 11, 12]])
    assert x_labels == ["a", "b", "c"]
    assert y_labels == ["c", "b", "</s>"]
    # No EOS: every output step, never more rows than the weights have; tensors work too.
    matrix, _, y_labels = attention_table(torch.ones(2, 5), ["a", "b", "c"], ["c", "b", "a"])
    assert matrix.shape == (2, 3) and y_labels == ["c", "b"]
    with pytest.raises(ValueError, match="output steps"):
        attention_table(np.zeros((1, 2, 3)), ["a"], ["b"])


def test_token_names_and_the_samples_table():
    vocab = symbol_vocabulary(["x", "y", "z"])  # ids 4, 5, 6
    assert token_names(vocab, [4, 5, 3, 6]) == ["x", "y"]
    assert token_names(vocab, [4, 5, 3, 6], keep_eos=True) == ["x", "y", "</s>"]
    assert token_names(vocab, [6, 0, 0]) == ["z"]
    text = samples_markdown([("1 2 3", "3 2 1", "3 2"), ("a|b", "", "c")])
    assert text.splitlines() == [
        "| source | reference | output |",
        "| --- | --- | --- |",
        "| 1 2 3 | 3 2 1 | 3 2 |",
        "| a\\|b |   | c |",
    ]


def test_the_heat_map_labels_its_axes_with_the_tokens():
    matrix, x_labels, y_labels = attention_table(np.full((3, 4), 0.25), ["1", "2", "3"], ["3", "2", "</s>"])
    figure = draw_attention(matrix, x_labels, y_labels, "val example 0: attention")
    axes = figure.axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["1", "2", "3"]
    assert [t.get_text() for t in axes.get_yticklabels()] == ["3", "2", "</s>"]
    assert len(figure.axes) == 2  # the heat map and its colour bar
    figure.canvas.draw()  # renders without a display


def test_num_examples_must_be_a_positive_whole_number():
    assert AttentionMaps().num_examples == 4 and AttentionMaps().every_n_epochs == 1
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="num_examples"):
            AttentionMaps(num_examples=bad)


# -- real runs ----------------------------------------------------------------------------------


def test_a_reverse_run_logs_attention_maps_and_samples(tmp_path):
    run, events = fit_and_test(tmp_path, *TINY_SEQ2SEQ)
    assert any(isinstance(c, AttentionMaps) for c in run.trainer.callbacks)
    images = events.Tags()["images"]
    for stage in ("val", "test"):
        assert {f"{stage}/attention/{i}" for i in range(4)} <= set(images)
        assert f"{stage}/attention/4" not in images
    [image] = events.Images("test/attention/0")
    assert image.step == run.trainer.global_step
    assert image.encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(events.Images("val/attention/0")) == 1  # one epoch, every epoch
    text = samples_text(events, "test/samples")
    lines = text.splitlines()
    assert lines[0] == "| source | reference | output |" and len(lines) == 2 + 4
    # The first test example, decoded with the vocabularies and joined by spaces.
    datamodule = run.datamodule
    test = datamodule.split("test")
    source = " ".join(datamodule.source_vocab.decode(test["source"][0][: int(test["source_lengths"][0])].tolist()))
    reference = " ".join(datamodule.target_vocab.decode(test["target_out"][0].tolist()))
    assert lines[2].startswith(f"| {source} | {reference} | ")
    assert samples_text(events, "val/samples").startswith("| source | reference | output |")
    # Decoding runs in eval mode and leaves the module in the mode it found it.
    task = run.task
    task.train()
    tokens, attention = decode_examples(task, task.model, test["source"][:2], test["source_lengths"][:2])
    assert task.training and task.model.training
    assert tokens.shape[0] == 2 and attention.shape[:2] == tokens.shape
    assert attention.shape[2] == test["source"].shape[1]


def test_without_attention_no_maps_but_still_samples(tmp_path):
    _, events = fit_and_test(tmp_path, *TINY_SEQ2SEQ, "model.attention=none")
    assert not [tag for tag in events.Tags()["images"] if "/attention/" in tag]
    assert samples_text(events, "test/samples").startswith("| source | reference | output |")


def test_nothing_and_no_error_for_other_data(tmp_path):
    _, events = fit_and_test(tmp_path, "data=digits", "logger=tensorboard")
    assert not [tag for tag in events.Tags()["images"] if "/attention/" in tag]
    assert not [tag for tag in events.Tags()["tensors"] if "samples" in tag]
