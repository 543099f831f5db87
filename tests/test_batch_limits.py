"""Trainer settings that count training batches count optimizer steps, as Lightning documents them,
even with data.steps_per_execution > 1 (see in_memory.counts_training_batches)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from conftest import build_from_overrides

from dlrun.checkpoints import load_checkpoint, load_weights
from dlrun.data.in_memory import counts_training_batches
from dlrun.data.sklearn_tables import SklearnDataModule

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

# digits: 1,797 rows, 15% val and 15% test; batches of 64. 32 steps per Lightning batch would put a
# whole epoch in one batch, so a limit counted in Lightning batches would train every step.
GROUPED = ("data=digits", "data.steps_per_execution=32", "seed=0")


def digits_train_batches() -> int:
    """Mini-batches of 64 in an epoch of digits' training split, counted here without a Trainer."""
    train = SklearnDataModule(name="digits").split("train")["inputs"]
    return math.ceil(len(train) / 64)


def quiet_trainer(**settings) -> pl.Trainer:
    return pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, **settings)


# -- the rule --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, counts",
    [
        ({}, False),
        ({"limit_train_batches": 1.0}, False),
        ({"val_check_interval": 1.0}, False),
        ({"val_check_interval": "00:00:00:30"}, False),  # time, not batches
        ({"limit_train_batches": 1}, True),  # an int 1 is one batch, not the whole epoch
        ({"limit_train_batches": 5}, True),
        ({"limit_train_batches": 0.25}, True),
        ({"limit_train_batches": 0}, True),
        ({"val_check_interval": 3}, True),
        ({"val_check_interval": 0.5}, True),
        ({"overfit_batches": 2}, True),
        ({"overfit_batches": 0.1}, True),
        ({"overfit_batches": 1.0}, True),  # the whole epoch, but unshuffled and counted
        ({"fast_dev_run": True}, True),
    ],
)
def test_settings_that_count_training_batches(settings, counts):
    assert counts_training_batches(quiet_trainer(**settings)) is counts


def test_a_loader_made_without_a_trainer_groups_steps_and_shuffles():
    assert counts_training_batches(None) is False
    loader = SklearnDataModule(name="iris", batch_size=16, steps_per_execution=4).train_dataloader()
    assert loader.group_size == 4 and loader.shuffle
    assert all(isinstance(group, list) and len(group) <= 4 for group in loader)


@pytest.mark.parametrize(
    "settings, group_size", [({}, 4), ({"limit_train_batches": 3}, None), ({"val_check_interval": 2}, None)]
)
def test_the_attached_trainer_decides_the_grouping(settings, group_size):
    datamodule = SklearnDataModule(name="iris", batch_size=16, steps_per_execution=4)
    datamodule.trainer = quiet_trainer(**settings)
    assert datamodule.train_dataloader().group_size == group_size


# -- through the command line -----------------------------------------------------------------


def run_record(run: Path) -> tuple[int, dict]:
    """(optimizer steps taken, results.json) of a finished run."""
    record = json.loads((run / "results.json").read_text())
    assert record["status"] == "completed", record.get("error")
    return load_checkpoint(run / "checkpoints" / "last.ckpt")["global_step"], record


@pytest.mark.slow
def test_a_fraction_of_the_epoch_is_that_fraction_of_its_steps(dlrun, tmp_path):
    done = dlrun("train", *GROUPED, "debug=fast", "logger=none", "trainer.limit_train_batches=0.5", "hydra.run.dir=run")
    assert done.returncode == 0, done.stderr
    steps, _ = run_record(tmp_path / "run")
    assert steps == int(digits_train_batches() * 0.5) == 10


def val_split_and_last_network(run: Path):
    """The run's validation split and its network with the weights of last.ckpt, built here from the
    run's recorded config (as helpers.rebuilt does for the test split)."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from dlrun.building import model_arguments

    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model, **model_arguments(cfg.model, datamodule.spec))
    model.load_state_dict(load_weights(run / "checkpoints" / "last.ckpt"))
    return datamodule.split("val"), model.eval()


@pytest.mark.slow
def test_debug_fast_trains_five_steps_an_epoch_and_validates_on_two_val_batches(dlrun, tmp_path):
    """5 optimizer steps an epoch, and the last epoch's val/loss is the loss of the last weights on the
    first 2 x 32 validation examples."""
    epochs = 2
    done = dlrun(
        "train",
        *GROUPED,
        "debug=fast",
        "logger=none",
        "data.eval_batch_size=32",
        f"trainer.max_epochs={epochs}",
        "hydra.run.dir=run",
    )
    assert done.returncode == 0, done.stderr
    steps, record = run_record(tmp_path / "run")
    assert digits_train_batches() == 20  # far more than the 5 of debug=fast, far fewer than 5 groups of 32
    assert steps == 5 * epochs and record["epochs"] == epochs
    val, model = val_split_and_last_network(tmp_path / "run")
    assert len(val["inputs"]) > 2 * 32
    with torch.no_grad():
        two_batches = F.cross_entropy(model(val["inputs"][:64]), val["targets"][:64]).item()
        everything = F.cross_entropy(model(val["inputs"]), val["targets"]).item()
    epoch = record["history"][-1]
    assert epoch["val/loss"] == pytest.approx(two_batches, rel=1e-4)
    assert abs(everything - two_batches) > 1e-3  # so the limit is what made the number


@pytest.mark.slow
def test_val_check_interval_counts_optimizer_steps(dlrun, tmp_path):
    """Validation every 2 steps of epochs of 5: after steps 2 and 4 of each epoch, counted in the
    metrics file as the training steps logged before each validation."""
    epochs, every = 2, 2
    done = dlrun(
        "train",
        *GROUPED,
        "debug=fast",
        "logger=csv",
        f"trainer.max_epochs={epochs}",
        f"+trainer.val_check_interval={every}",
        "hydra.run.dir=run",
    )
    assert done.returncode == 0, done.stderr
    steps, _ = run_record(tmp_path / "run")
    assert steps == 5 * epochs
    train_steps, validated_after = 0, []
    with open(tmp_path / "run" / "csv" / "metrics.csv") as f:
        for row in csv.DictReader(f):
            train_steps += bool(row["train/loss_step"])  # debug=fast logs every step
            if row["val/loss"]:
                validated_after.append(train_steps)
    expected = [epoch * 5 + k * every for epoch in range(epochs) for k in range(1, 5 // every + 1)]
    assert validated_after == expected == [2, 4, 7, 9]


# -- in this process: overfitting and resuming inside an epoch ---------------------------------


class EpochInputs(pl.Callback):
    """The inputs of every training batch, by epoch."""

    def __init__(self) -> None:
        self.epochs: list[list[torch.Tensor]] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.epochs.append([])

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        assert isinstance(batch, dict)  # one mini-batch, not a group
        self.epochs[-1].append(batch["inputs"].clone())


def test_overfit_batches_trains_the_same_steps_every_epoch(tmp_path):
    run = build_from_overrides(
        tmp_path, *GROUPED, "trainer.overfit_batches=3", "trainer.max_epochs=2", "callbacks=none"
    )
    seen = EpochInputs()
    run.trainer.callbacks.append(seen)
    run.trainer.fit(run.task, datamodule=run.datamodule)
    assert run.trainer.global_step == 3 * 2
    first, second = seen.epochs
    assert len(first) == len(second) == 3
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    train = run.datamodule.split("train")["inputs"]
    assert torch.equal(torch.cat(first), train[: 3 * 64])  # Lightning's overfitting: unshuffled


def test_a_run_resumed_inside_a_limited_epoch_ends_with_the_uninterrupted_weights(tmp_path):
    """2 epochs of 6 steps, a checkpoint after step 9 (step 3 of epoch 1), then a resume from it."""
    settings = (
        *GROUPED,
        "trainer.limit_train_batches=6",
        "trainer.max_epochs=2",
        "callbacks.step_checkpoint.every_n_train_steps=9",
        "+callbacks.step_checkpoint.filename=mid.ckpt",
    )
    whole = build_from_overrides(tmp_path / "whole", *settings)
    whole.trainer.fit(whole.task, datamodule=whole.datamodule)
    assert whole.trainer.global_step == 12
    mid = tmp_path / "whole" / "run" / "checkpoints" / "mid.ckpt"
    checkpoint = load_checkpoint(mid)
    assert checkpoint["global_step"] == 9 and checkpoint["epoch"] == 1
    assert checkpoint["SklearnDataModule"]["batches_done"] == 3  # Lightning batches, one step each

    resumed = build_from_overrides(tmp_path / "resumed", *settings)
    resumed.trainer.fit(resumed.task, datamodule=resumed.datamodule, ckpt_path=str(mid), weights_only=True)
    assert resumed.trainer.global_step == 12
    a, b = whole.task.model.state_dict(), resumed.task.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
