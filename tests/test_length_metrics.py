"""Seq2Seq test metrics by source length, drawn as a figure in TensorBoard."""

from __future__ import annotations

from conftest import build_from_overrides
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from dlrun.callbacks.length_metrics import by_length_lines


def test_lines_follow_the_buckets_and_scale_bleu():
    by_length = {
        "5-14": {"exact_match": 0.9, "token_acc": 0.95, "bleu": 80.0, "n": 10},
        "15-24": {"exact_match": 0.2, "token_acc": 0.6, "bleu": 30.0, "n": 12},
    }
    lines = dict((label, values) for label, _, values in by_length_lines(by_length))
    assert lines == {"exact_match": [0.9, 0.2], "token_acc": [0.95, 0.6], "bleu / 100": [0.8, 0.3]}
    assert by_length_lines(by_length)[0][1] == ["5-14", "15-24"]


def test_a_seq2seq_test_writes_the_figure(tmp_path):
    run = build_from_overrides(
        tmp_path,
        "data=reverse",
        "model=seq2seq",
        "model.hidden_size=16",
        "model.embedding_size=8",
        "data.train_size=128",
        "data.val_size=32",
        "data.test_size=64",
        "logger=tensorboard",
        "data.max_length=20",
        "data.length_buckets=[5-12,13-20]",
    )
    run.trainer.fit(run.task, datamodule=run.datamodule)
    run.trainer.test(run.task, datamodule=run.datamodule, verbose=False)
    events = sorted((tmp_path / "run").glob("tensorboard/**/events.out.tfevents.*"))[-1]
    accumulator = EventAccumulator(str(events.parent), size_guidance={"images": 0})
    accumulator.Reload()
    assert "test/by_length" in accumulator.Tags()["images"]
    assert set(run.task.by_length) <= {"5-12", "13-20"}
