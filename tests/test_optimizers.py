"""The optimizer options: each builds its torch.optim class with its settings and trains in a real run."""

from __future__ import annotations

import pytest
import torch
from conftest import build_from_overrides
from hydra.utils import instantiate
from omegaconf import OmegaConf

from dlrun.config.location import config_dir

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore:.*treespec.*")

SGD_DEFAULTS = {"momentum": 0.0, "dampening": 0.0, "nesterov": False, "weight_decay": 0.0}

# option -> (class, settings its optimizer must hold)
EXPECTED = {
    "gd": (torch.optim.SGD, {**SGD_DEFAULTS, "lr": 0.1}),
    "sgd": (torch.optim.SGD, {**SGD_DEFAULTS, "lr": 0.01}),
    "momentum": (torch.optim.SGD, {**SGD_DEFAULTS, "lr": 0.01, "momentum": 0.9}),
    "nesterov": (torch.optim.SGD, {**SGD_DEFAULTS, "lr": 0.01, "momentum": 0.9, "nesterov": True}),
    "adagrad": (
        torch.optim.Adagrad,
        {"lr": 0.01, "lr_decay": 0.0, "initial_accumulator_value": 0.0, "eps": 1e-10, "weight_decay": 0.0},
    ),
    "adadelta": (torch.optim.Adadelta, {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0}),
    "rmsprop": (
        torch.optim.RMSprop,
        {"lr": 0.001, "alpha": 0.99, "eps": 1e-8, "momentum": 0.0, "centered": False, "weight_decay": 0.0},
    ),
    "adam": (
        torch.optim.Adam,
        {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False},
    ),
    "adamw": (
        torch.optim.AdamW,
        {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01, "amsgrad": False},
    ),
}


def fit(tmp_path, *overrides: str):
    run = build_from_overrides(tmp_path, "data=iris", "callbacks=none", *overrides)
    run.trainer.fit(run.task, datamodule=run.datamodule)
    return run


def settings_of(optimizer: torch.optim.Optimizer, keys) -> dict:
    group = optimizer.param_groups[0]
    return {key: tuple(group[key]) if isinstance(group[key], list | tuple) else group[key] for key in keys}


@pytest.mark.parametrize("option", sorted(EXPECTED))
def test_each_option_trains_with_its_class_and_settings(tmp_path, option):
    cls, expected = EXPECTED[option]
    run = fit(tmp_path, f"optimizer={option}")
    optimizer = run.trainer.optimizers[0]
    assert type(optimizer) is cls  # exact: AdamW is a subclass of Adam in recent torch
    assert settings_of(optimizer, expected) == expected
    assert run.trainer.global_step > 0
    assert torch.isfinite(run.trainer.callback_metrics["train/loss"])


def test_gd_takes_one_full_batch_step_per_epoch(tmp_path):
    epochs = 3
    run = fit(tmp_path, "optimizer=gd", f"trainer.max_epochs={epochs}", "trainer.limit_train_batches=1.0")
    assert run.datamodule.batch_size is None
    assert run.trainer.global_step == epochs
    # The same data with the default batch size takes several steps per epoch.
    minibatch = fit(
        tmp_path / "sgd", "optimizer=sgd", f"trainer.max_epochs={epochs}", "trainer.limit_train_batches=1.0"
    )
    assert minibatch.trainer.global_step > epochs


def test_gd_step_follows_the_whole_training_sets_gradient(tmp_path):
    """One epoch of gd moves the weights by exactly -lr times the full-batch gradient."""
    run = build_from_overrides(
        tmp_path, "data=iris", "callbacks=none", "optimizer=gd", "trainer.gradient_clip_val=null"
    )
    task, train = run.task, run.datamodule.split("train")
    before = [p.detach().clone() for p in task.model.parameters()]
    task.model.zero_grad()
    task.loss(task.model(train["inputs"]), train["targets"]).backward()
    gradients = [p.grad.clone() for p in task.model.parameters()]
    task.model.zero_grad(set_to_none=True)
    run.trainer.fit(task, datamodule=run.datamodule)
    for old, gradient, new in zip(before, gradients, task.model.parameters()):
        torch.testing.assert_close(new.detach(), old - 0.1 * gradient)


def test_adamw_decays_weights_apart_from_the_gradient():
    """With a zero gradient, adamw still shrinks every weight by lr * weight_decay; adam leaves it."""
    for option, expected in (("adamw", 1 - 0.001 * 0.01), ("adam", 1.0)):
        weight = torch.nn.Parameter(torch.ones(3))
        optimizer = instantiate(OmegaConf.load(config_dir() / "optimizer" / f"{option}.yaml"))([weight])
        weight.grad = torch.zeros(3)
        optimizer.step()
        torch.testing.assert_close(weight.detach(), torch.full((3,), expected), msg=option)
