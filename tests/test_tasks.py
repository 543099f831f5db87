"""The Lightning tasks: losses, metric inputs, short real fits, and the manual optimization loop."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from conftest import make_trainer
from sklearn import datasets
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, precision_score, r2_score, recall_score

from dlrun.data import DataSpec, SklearnDataModule
from dlrun.data.splits import split_indices
from dlrun.models import MLP
from dlrun.tasks import ClassificationTask, RegressionTask, StepSettings, task_class_for

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore:.*treespec.*")

SGD = functools.partial(torch.optim.SGD, lr=0.1)


def build(name: str, optimizer=SGD, seed: int = 0, hidden=(16,), data_kwargs=None, **task_kwargs):
    """Seed, then build data, model and task the way a run does."""
    pl.seed_everything(seed, verbose=False)
    datamodule = SklearnDataModule(name=name, **(data_kwargs or {}))
    spec = datamodule.spec
    model = MLP(spec.input_shape, spec.num_outputs, hidden_sizes=hidden)
    task = task_class_for(spec.task)(model, spec, optimizer, **task_kwargs)
    return datamodule, task


def params(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def max_abs_diff(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a, b))


class OnAfterBackward(pl.Callback):
    """Overrides a per-step hook, which makes the task go through Lightning's wrapped step path."""

    def __init__(self) -> None:
        self.calls = 0

    def on_after_backward(self, trainer, pl_module) -> None:
        self.calls += 1


class BatchCounter(pl.Callback):
    def __init__(self) -> None:
        self.batches = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.batches += 1


# -- losses and metric inputs, no Trainer ---------------------------------------------------


def test_multiclass_loss_is_cross_entropy():
    torch.manual_seed(0)
    spec = DataSpec("multiclass", (4,), num_classes=3)
    task = ClassificationTask(MLP((4,), 3, hidden_sizes=(5,)), spec, SGD)
    logits = torch.randn(11, 3) * 3
    targets = torch.randint(0, 3, (11,))
    by_hand = -(logits - logits.exp().sum(1, keepdim=True).log())[torch.arange(11), targets].mean()
    torch.testing.assert_close(task.loss(logits, targets), by_hand)
    torch.testing.assert_close(task.loss(logits, targets), F.cross_entropy(logits, targets))
    predictions, metric_targets = task.metric_inputs(logits, targets)
    assert torch.equal(predictions, logits) and torch.equal(metric_targets, targets)


def test_binary_loss_is_bce_with_logits():
    torch.manual_seed(0)
    spec = DataSpec("binary", (30,), num_classes=2)
    task = ClassificationTask(MLP((30,), 1, hidden_sizes=(5,)), spec, SGD)
    assert spec.num_outputs == 1
    logits = torch.randn(9, 1) * 2
    targets = torch.randint(0, 2, (9,))
    p = torch.sigmoid(logits.squeeze(-1))
    y = targets.float()
    by_hand = -(y * p.log() + (1 - y) * (1 - p).log()).mean()
    torch.testing.assert_close(task.loss(logits, targets), by_hand)
    probabilities, metric_targets = task.metric_inputs(logits, targets)
    assert probabilities.shape == (9,)
    torch.testing.assert_close(probabilities, p)
    assert torch.equal(metric_targets, targets)


def test_regression_loss_and_metric_inputs_in_original_units():
    torch.manual_seed(0)
    spec = DataSpec("regression", (10,), target_mean=152.0, target_std=77.5)
    task = RegressionTask(MLP((10,), 1, hidden_sizes=(5,)), spec, SGD)
    outputs = torch.randn(8, 1)
    targets = torch.randn(8)
    torch.testing.assert_close(task.loss(outputs, targets), ((outputs[:, 0] - targets) ** 2).mean())
    predictions, original = task.metric_inputs(outputs, targets)
    assert predictions.shape == (8,)
    torch.testing.assert_close(predictions, outputs[:, 0] * 77.5 + 152.0)
    torch.testing.assert_close(original, targets * 77.5 + 152.0)
    # Standardized zero is the mean; one standardized unit is one std.
    zero, one = task.metric_inputs(torch.zeros(1, 1), torch.ones(1))
    assert float(zero) == pytest.approx(152.0) and float(one) == pytest.approx(229.5)


def test_metric_names():
    classification = ClassificationTask(MLP((4,), 3), DataSpec("multiclass", (4,), num_classes=3), SGD)
    names = classification.metric_names("val")
    assert names[0] == "val/loss"
    assert set(names) == {"val/loss", "val/acc", "val/precision", "val/recall", "val/f1"}
    assert set(classification.metric_names("test")) == {n.replace("val/", "test/") for n in names}
    assert set(classification.metric_names("train")) == {"train/loss", "train/acc"}

    regression = RegressionTask(MLP((10,), 1), DataSpec("regression", (10,)), SGD)
    assert set(regression.metric_names("val")) == {"val/loss", "val/mae", "val/rmse", "val/r2"}
    assert set(regression.metric_names("train")) == {"train/loss", "train/mae"}


def test_task_class_for():
    assert task_class_for("regression") is RegressionTask
    assert task_class_for("multiclass") is ClassificationTask
    assert task_class_for("binary") is ClassificationTask


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"gradient_clip_algorithm": "median"}, "choose one of: norm, value"),
        ({"accumulate_grad_batches": 0}, "accumulate_grad_batches must be a whole number"),
        ({"log_every_n_steps": 1.5}, "log_every_n_steps must be a whole number"),
        ({"gradient_clip_val": -1.0}, "gradient_clip_val must be"),
    ],
)
def test_bad_step_settings_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StepSettings(**kwargs)


# -- real short fits ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def iris_fit(tmp_path_factory):
    datamodule, task = build(
        "iris", optimizer=functools.partial(torch.optim.Adam, lr=0.02), data_kwargs={"batch_size": 16}
    )
    trainer = make_trainer(tmp_path_factory.mktemp("iris"), max_epochs=3)
    trainer.fit(task, datamodule=datamodule)
    validated = {k: float(v) for k, v in trainer.callback_metrics.items()}
    tested = trainer.test(task, datamodule=datamodule, verbose=False)
    return datamodule, task, trainer, validated, tested


def predict(task, inputs: torch.Tensor) -> torch.Tensor:
    task.eval()
    with torch.no_grad():
        return task(inputs)


def test_fit_logs_val_and_train_metrics(iris_fit):
    datamodule, task, trainer, validated, _ = iris_fit
    assert trainer.current_epoch == 3
    for name in ("val/loss", "val/acc", "val/precision", "val/recall", "val/f1", "train/loss", "train/acc"):
        assert name in validated and math.isfinite(validated[name]), name
    # The last validation ran on the final weights: recompute it by hand.
    val = datamodule.split("val")
    logits = predict(task, val["inputs"])
    assert validated["val/loss"] == pytest.approx(float(F.cross_entropy(logits, val["targets"])), rel=1e-5)
    assert validated["val/acc"] == pytest.approx(accuracy_score(val["targets"], logits.argmax(1)), abs=1e-6)


def test_test_metrics_match_sklearn(iris_fit):
    datamodule, task, _, _, tested = iris_fit
    [metrics] = tested
    test = datamodule.split("test")
    logits = predict(task, test["inputs"])
    predicted = logits.argmax(1).numpy()
    truth = test["targets"].numpy()
    assert metrics["test/acc"] == pytest.approx(accuracy_score(truth, predicted), abs=1e-6)
    assert metrics["test/loss"] == pytest.approx(float(F.cross_entropy(logits, test["targets"])), rel=1e-5)
    for name, score in (("precision", precision_score), ("recall", recall_score), ("f1", f1_score)):
        expected = score(truth, predicted, average="macro", zero_division=0)
        assert metrics[f"test/{name}"] == pytest.approx(expected, abs=1e-5), name
    assert metrics["test/acc"] > 0.6  # 3 epochs of Adam learn iris well beyond chance (1/3)


def test_binary_fit_test_metrics(tmp_path):
    datamodule, task = build("breast_cancer", optimizer=functools.partial(torch.optim.Adam, lr=0.01))
    trainer = make_trainer(tmp_path, max_epochs=2)
    trainer.fit(task, datamodule=datamodule)
    [metrics] = trainer.test(task, datamodule=datamodule, verbose=False)
    test = datamodule.split("test")
    logits = predict(task, test["inputs"])[:, 0]
    predicted = (torch.sigmoid(logits) > 0.5).long().numpy()
    truth = test["targets"].numpy()
    assert metrics["test/acc"] == pytest.approx(accuracy_score(truth, predicted), abs=1e-6)
    assert metrics["test/f1"] == pytest.approx(f1_score(truth, predicted), abs=1e-5)
    bce = F.binary_cross_entropy_with_logits(logits, test["targets"].float())
    assert metrics["test/loss"] == pytest.approx(float(bce), rel=1e-5)


def test_regression_fit_reports_original_units(tmp_path):
    datamodule, task = build(
        "diabetes", optimizer=functools.partial(torch.optim.Adam, lr=0.01), data_kwargs={"batch_size": 32}
    )
    trainer = make_trainer(tmp_path, max_epochs=3)
    trainer.fit(task, datamodule=datamodule)
    for name in ("val/loss", "val/mae", "val/rmse", "val/r2", "train/loss", "train/mae"):
        assert name in trainer.callback_metrics, name
    [metrics] = trainer.test(task, datamodule=datamodule, verbose=False)

    # By hand, from the raw data set: the model's standardized output un-scaled with the train stats.
    bunch = datasets.load_diabetes()
    idx = split_indices(bunch.target, 0.15, 0.15, seed=0, stratify=False)
    raw_train, raw_test = bunch.target[idx["train"]], bunch.target[idx["test"]]
    outputs = predict(task, datamodule.split("test")["inputs"])[:, 0].double().numpy()
    predictions = outputs * raw_train.std() + raw_train.mean()
    assert metrics["test/mae"] == pytest.approx(mean_absolute_error(raw_test, predictions), rel=1e-5)
    assert metrics["test/rmse"] == pytest.approx(np.sqrt(np.mean((raw_test - predictions) ** 2)), rel=1e-5)
    assert metrics["test/r2"] == pytest.approx(r2_score(raw_test, predictions), abs=1e-4)
    standardized = (raw_test - raw_train.mean()) / raw_train.std()
    assert metrics["test/loss"] == pytest.approx(np.mean((outputs - standardized) ** 2), rel=1e-4)
    assert metrics["test/mae"] > 10  # original units (diabetes targets span 25..346), not standardized


# -- the manual optimization loop -----------------------------------------------------------


def test_global_step_counts_mini_batches_not_lightning_batches(tmp_path):
    datamodule, task = build("iris", data_kwargs={"batch_size": 16, "steps_per_execution": 4})
    n_train = len(datamodule.split("train")["inputs"])
    counter = BatchCounter()
    trainer = make_trainer(tmp_path, max_epochs=1, callbacks=[counter])
    trainer.fit(task, datamodule=datamodule)
    mini_batches = math.ceil(n_train / 16)
    assert n_train == 104 and mini_batches == 7
    assert counter.batches == math.ceil(mini_batches / 4) == 2
    assert trainer.global_step == mini_batches


def test_global_step_over_several_epochs(tmp_path):
    datamodule, task = build("iris", data_kwargs={"batch_size": 10, "steps_per_execution": 3})
    trainer = make_trainer(tmp_path, max_epochs=2)
    trainer.fit(task, datamodule=datamodule)
    assert trainer.global_step == 2 * math.ceil(104 / 10)


def fit_params(tmp_path, callbacks=(), epochs=2, **task_kwargs):
    datamodule, task = build(
        "iris",
        optimizer=functools.partial(torch.optim.SGD, lr=0.5, momentum=0.9),
        data_kwargs={"batch_size": 16, "steps_per_execution": 4},
        **task_kwargs,
    )
    trainer = make_trainer(tmp_path, max_epochs=epochs, callbacks=list(callbacks))
    trainer.fit(task, datamodule=datamodule)
    return task, trainer, params(task)


@pytest.mark.parametrize("algorithm, clip", [("norm", 0.5), ("value", 0.05)])
def test_direct_and_lightning_step_paths_give_the_same_weights(tmp_path, algorithm, clip):
    steps = StepSettings(gradient_clip_val=clip, gradient_clip_algorithm=algorithm)
    plain_task, plain_trainer, plain = fit_params(tmp_path / "plain", steps=steps)
    hook = OnAfterBackward()
    hooked_task, hooked_trainer, hooked = fit_params(tmp_path / "hooked", callbacks=[hook], steps=steps)
    # The two runs really took different paths, with the same number of steps.
    assert plain_task.stepper.direct is True
    assert hooked_task.stepper.direct is False
    assert hook.calls == 14
    assert plain_trainer.global_step == hooked_trainer.global_step == 14
    for a, b in zip(plain, hooked):
        assert torch.allclose(a, b, atol=1e-6), float((a - b).abs().max())
    # ...and clipping was active in both: without it the weights end elsewhere.
    _, _, unclipped = fit_params(tmp_path / "unclipped")
    assert max_abs_diff(plain, unclipped) > 1e-3


@pytest.mark.parametrize("lightning_path", [False, True])
def test_clip_by_value_bounds_each_sgd_step(tmp_path, lightning_path):
    lr, clip = 0.1, 1e-4
    datamodule, task = build(
        "iris",
        optimizer=functools.partial(torch.optim.SGD, lr=lr),
        data_kwargs={"batch_size": 16, "steps_per_execution": 1},
        steps=StepSettings(gradient_clip_val=clip, gradient_clip_algorithm="value"),
    )
    before = params(task)
    trainer = make_trainer(
        tmp_path,
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=0,
        callbacks=[OnAfterBackward()] if lightning_path else [],
    )
    trainer.fit(task, datamodule=datamodule)
    assert trainer.global_step == 1
    assert task.stepper.direct is (not lightning_path)
    eps = torch.finfo(torch.float32).eps
    for after, start in zip(params(task), before):
        move = (after - start).abs()
        rounding = eps * torch.maximum(after.abs(), start.abs())  # float32 rounding of p - lr * g
        assert bool((move <= lr * clip + rounding).all()), float((move - rounding).max())
    # Gradients are far larger than 1e-4, so most entries move by the full lr * clip: the bound is hit.
    largest = max(float((a - b).abs().max()) for a, b in zip(params(task), before))
    assert largest >= lr * clip * (1 - 1e-2)


def test_clip_by_norm_bounds_the_step_norm(tmp_path):
    lr, clip = 0.1, 1e-3
    datamodule, task = build(
        "iris",
        optimizer=functools.partial(torch.optim.SGD, lr=lr),
        data_kwargs={"batch_size": 16, "steps_per_execution": 1},
        steps=StepSettings(gradient_clip_val=clip, gradient_clip_algorithm="norm"),
    )
    before = params(task)
    trainer = make_trainer(tmp_path, max_epochs=1, limit_train_batches=1, limit_val_batches=0)
    trainer.fit(task, datamodule=datamodule)
    step_norm = math.sqrt(sum(float(((a - b) ** 2).sum()) for a, b in zip(params(task), before)))
    assert step_norm == pytest.approx(lr * clip, rel=1e-2)


def accumulate_run(tmp_path, batch_size: int, accumulate: int):
    datamodule, task = build(
        "iris",
        optimizer=functools.partial(torch.optim.SGD, lr=0.2),
        data_kwargs={"batch_size": batch_size, "steps_per_execution": 4},
        steps=StepSettings(accumulate_grad_batches=accumulate),
    )
    trainer = make_trainer(tmp_path, max_epochs=1)
    trainer.fit(task, datamodule=datamodule)
    return trainer, params(task)


def test_accumulate_grad_batches_halves_global_step(tmp_path):
    # 104 training examples in batches of 13: 8 mini-batches, so accumulation over 2 gives 4 steps.
    single, _ = accumulate_run(tmp_path / "one", 13, 1)
    double, _ = accumulate_run(tmp_path / "two", 13, 2)
    assert single.global_step == 8
    assert double.global_step == 4 == single.global_step // 2


def test_accumulating_two_batches_equals_one_batch_twice_as_large(tmp_path):
    # Same seed, so the same shuffle: a batch of 26 is two consecutive batches of 13, and the mean
    # loss over 26 is the average of the two means, which is what accumulation with loss/2 sums.
    accumulated_trainer, accumulated = accumulate_run(tmp_path / "acc", 13, 2)
    large_trainer, large = accumulate_run(tmp_path / "large", 26, 1)
    assert accumulated_trainer.global_step == large_trainer.global_step == 4
    for a, b in zip(accumulated, large):
        assert torch.allclose(a, b, atol=1e-6), float((a - b).abs().max())


def test_validation_does_not_change_training_with_leftover_accumulation(tmp_path):
    # 104 examples in batches of 16: 7 mini-batches, so with accumulation over 2 one is left over.
    weights = {}
    for limit_val in (1.0, 0):
        datamodule, task = build(
            "iris",
            optimizer=functools.partial(torch.optim.SGD, lr=0.2),
            data_kwargs={"batch_size": 16, "steps_per_execution": 4},
            steps=StepSettings(accumulate_grad_batches=2),
        )
        trainer = make_trainer(tmp_path / str(limit_val), max_epochs=1, limit_val_batches=limit_val)
        trainer.fit(task, datamodule=datamodule)
        assert trainer.global_step == 4  # three full windows and the leftover, each one counted
        weights[limit_val] = params(task)
    for a, b in zip(weights[1.0], weights[0]):
        assert torch.allclose(a, b, atol=1e-6)
