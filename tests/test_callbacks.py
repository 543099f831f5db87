"""EarlyStopping's restore_best_weights and MetricHistory, on real short fits checked by hand."""

from __future__ import annotations

import functools

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from conftest import make_trainer

from dlrun.callbacks import EarlyStopping, MetricHistory
from dlrun.data import SklearnDataModule
from dlrun.models import MLP
from dlrun.tasks import ClassificationTask

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore:.*treespec.*")

MAX_EPOCHS = 30
PATIENCE = 3


class WeightsPerEpoch(pl.Callback):
    """A copy of the weights each validation saw, by epoch."""

    def __init__(self) -> None:
        self.weights: dict[int, dict[str, torch.Tensor]] = {}

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self.weights[trainer.current_epoch] = {
                k: v.detach().clone() for k, v in pl_module.model.state_dict().items()
            }


def val_loss_by_hand(task: ClassificationTask, datamodule: SklearnDataModule) -> float:
    val = datamodule.split("val")
    task.eval()
    with torch.no_grad():
        return float(F.cross_entropy(task(val["inputs"]), val["targets"]))


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def noisy_fit(root, restore_best_weights: bool):
    """A fit whose val/loss jumps around (large Adam steps on small batches), stopped early."""
    pl.seed_everything(0, verbose=False)
    datamodule = SklearnDataModule(name="iris", batch_size=8)
    spec = datamodule.spec
    model = MLP(spec.input_shape, spec.num_outputs, hidden_sizes=(64, 64))
    task = ClassificationTask(model, spec, functools.partial(torch.optim.Adam, lr=0.05))
    history = MetricHistory()
    weights = WeightsPerEpoch()
    stopping = EarlyStopping(
        monitor="val/loss", mode="min", patience=PATIENCE, restore_best_weights=restore_best_weights
    )
    trainer = make_trainer(root, max_epochs=MAX_EPOCHS, callbacks=[history, weights, stopping])
    trainer.fit(task, datamodule=datamodule)
    return datamodule, task, trainer, history, weights, stopping


@pytest.fixture(scope="module")
def restored(tmp_path_factory):
    return noisy_fit(tmp_path_factory.mktemp("restore"), restore_best_weights=True)


@pytest.fixture(scope="module")
def kept_last(tmp_path_factory):
    return noisy_fit(tmp_path_factory.mktemp("last"), restore_best_weights=False)


def test_the_fit_stopped_early_past_its_best_epoch(restored):
    _, _, trainer, history, _, stopping = restored
    best_value, best_epoch = history.best("val/loss", "min")
    last = history.epochs[-1]
    assert trainer.current_epoch < MAX_EPOCHS  # early stopping ended it
    assert last["epoch"] == best_epoch + PATIENCE
    assert last["val/loss"] > best_value
    assert stopping.best_epoch == best_epoch
    assert float(stopping.best_score) == pytest.approx(best_value, rel=1e-6)


def test_restore_best_weights_puts_back_the_best_epoch(restored):
    datamodule, task, _, history, weights, _ = restored
    best_value, best_epoch = history.best("val/loss", "min")
    last_value = history.epochs[-1]["val/loss"]
    restored_loss = val_loss_by_hand(task, datamodule)
    assert restored_loss == pytest.approx(best_value, rel=1e-5)
    assert restored_loss != pytest.approx(last_value, rel=1e-3)
    assert same_weights(task.model.state_dict(), weights.weights[best_epoch])
    assert not same_weights(task.model.state_dict(), weights.weights[history.epochs[-1]["epoch"]])


def test_without_restore_the_last_weights_stay(restored, kept_last):
    datamodule, task, _, history, weights, stopping = kept_last
    best_value, best_epoch = history.best("val/loss", "min")
    last = history.epochs[-1]
    loss = val_loss_by_hand(task, datamodule)
    assert loss == pytest.approx(last["val/loss"], rel=1e-5)
    assert loss != pytest.approx(best_value, rel=1e-3)
    assert same_weights(task.model.state_dict(), weights.weights[last["epoch"]])
    assert stopping.best_epoch == best_epoch
    # Same seed, same training: only what ends up in memory differs.
    assert [row["val/loss"] for row in history.epochs] == [row["val/loss"] for row in restored[3].epochs]


def test_metric_history_records_one_row_per_epoch(restored):
    _, _, trainer, history, _, _ = restored
    assert [row["epoch"] for row in history.epochs] == list(range(trainer.current_epoch))
    for row in history.epochs:
        for name in ("train/loss", "train/acc", "val/loss", "val/acc"):
            assert name in row, (row["epoch"], name)
        assert not any(name.endswith("_step") for name in row)


def test_metric_history_values_by_hand(tmp_path):
    """With lr=0 the weights never change, so every epoch's metrics are the fixed model's, by hand."""
    pl.seed_everything(1, verbose=False)
    datamodule = SklearnDataModule(name="iris", batch_size=16, steps_per_execution=2)
    spec = datamodule.spec
    model = MLP(spec.input_shape, spec.num_outputs, hidden_sizes=(8,))
    task = ClassificationTask(model, spec, functools.partial(torch.optim.SGD, lr=0.0))
    history = MetricHistory()
    trainer = make_trainer(tmp_path, max_epochs=3, callbacks=[history])
    trainer.fit(task, datamodule=datamodule)

    with torch.no_grad():
        expected = {}
        for split in ("train", "val"):
            data = datamodule.split(split)
            logits = model(data["inputs"])
            expected[f"{split}/loss"] = float(F.cross_entropy(logits, data["targets"]))
            expected[f"{split}/acc"] = float((logits.argmax(1) == data["targets"]).float().mean())
    assert len(history.epochs) == 3
    assert [row["epoch"] for row in history.epochs] == [0, 1, 2]
    for row in history.epochs:
        for name, value in expected.items():
            assert row[name] == pytest.approx(value, rel=1e-5, abs=1e-6), (row["epoch"], name)
    assert history.best("val/loss", "min") == (history.epochs[0]["val/loss"], 0)


def test_metric_history_best():
    history = MetricHistory()
    history.epochs = [
        {"epoch": 0, "val/loss": 0.9, "val/acc": 0.5},
        {"epoch": 1, "val/loss": 0.4, "val/acc": 0.7},
        {"epoch": 2, "val/loss": float("nan"), "val/acc": 0.8},
        {"epoch": 3, "val/loss": 0.6},
    ]
    assert history.best("val/loss", "min") == (0.4, 1)
    assert history.best("val/acc", "max") == (0.8, 2)
    assert history.best("val/f1", "max") == (None, None)
