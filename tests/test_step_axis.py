"""One step axis: every value a run writes to TensorBoard, train, validation and test, scalars, images and
histograms, is at an optimizer step (trainer.global_step), with `epoch` beside the epoch's values.

Read back with TensorBoard's own reader from runs made through the command line."""

from __future__ import annotations

import math

import pytest
from helpers import tensorboard_dir
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

EPOCHS = 3
BATCH_SIZE = 8


def iris_training_rows() -> int:
    from dlrun.data.sklearn_tables import SklearnDataModule

    data = SklearnDataModule(name="iris")
    data.setup("fit")
    return len(data.split("train")["targets"])


def read_events(run_dir) -> EventAccumulator:
    events = EventAccumulator(
        str(tensorboard_dir(run_dir)),
        size_guidance={"scalars": 0, "images": 0, "histograms": 0, "tensors": 0, "compressedHistograms": 0},
    )
    events.Reload()
    return events


@pytest.mark.slow
@pytest.mark.parametrize(
    "steps_per_execution, histograms_every",
    # 32: an epoch is one Lightning batch; 1: a Lightning batch per step. A histogram interval longer than
    # the run still gives the end's histograms, and one that ends with it gives them once.
    [(32, 20), (1, EPOCHS)],
)
def test_train_validation_and_test_values_are_at_optimizer_steps(
    dlrun, tmp_path, steps_per_execution, histograms_every
):
    done = dlrun(
        "train",
        "data=iris",
        f"trainer.max_epochs={EPOCHS}",
        "seed=0",
        f"data.batch_size={BATCH_SIZE}",
        f"data.steps_per_execution={steps_per_execution}",
        "callbacks.early_stopping.patience=100",
        "callbacks.confusion_matrix.every_n_epochs=1",
        "callbacks.confusion_matrix.time_budget=null",
        f"callbacks.diagnostics.every_n_epochs={histograms_every}",
        "hydra.run.dir=run",
    )
    assert done.returncode == 0, done.stderr
    rows = iris_training_rows()
    assert rows == 104  # iris' 150 rows less 15% each for validation and test (stratified)
    per_epoch = math.ceil(rows / BATCH_SIZE)
    ends = [per_epoch * (epoch + 1) for epoch in range(EPOCHS)]  # global_step at each epoch's end
    last = ends[-1]
    events = read_events(tmp_path / "run")
    tags = events.Tags()

    def steps(tag: str) -> list[int]:
        return [e.step for e in events.Scalars(tag)]

    assert steps("train/loss") == steps("val/loss") == ends
    assert steps("train/acc") == steps("val/acc") == ends
    by_step: dict[int, set[float]] = {}
    for event in events.Scalars("epoch"):
        by_step.setdefault(event.step, set()).add(event.value)
    # The epoch that is ending, numbered from 1 as everywhere a user reads one; the test values after
    # fit carry the number of epochs trained, which is the last epoch's.
    assert by_step == {end: {epoch} for epoch, end in enumerate(ends, start=1)}
    for tag in ("test/loss", "test/acc", "best/val/loss"):
        assert steps(tag) == [last], tag
    assert steps("lr-Adam") == [0, *ends[:-1]]  # at each epoch's start
    assert set(steps("train/loss_step")) <= set(range(1, last + 1))
    # Everything else logged per epoch, callbacks' values included, is at an epoch's end.
    per_step = {"train/loss_step", "lr-Adam"}
    for tag in set(tags["scalars"]) - per_step:
        assert set(steps(tag)) <= set(ends), tag

    assert [e.step for e in events.Images("val/confusion_matrix")] == ends
    assert [e.step for e in events.Images("test/confusion_matrix")] == [last]
    histograms = [tag for tag in tags["histograms"] if tag.startswith("diagnostics/")]
    assert any(t.startswith("diagnostics/weights/") for t in histograms)
    assert any(t.startswith("diagnostics/gradients/") for t in histograms)
    for tag in histograms:
        assert [e.step for e in events.Histograms(tag)] == [last], tag
