"""Transfer learning: weights matched by name and shape, frozen parts, a gentler rate for them."""

from __future__ import annotations

import functools

import pytest
import torch
from conftest import build_from_overrides

from dlrun.errors import ConfigError
from dlrun.models import MLP
from dlrun.training import transfer


def lightning_checkpoint(path, model):
    """What a dlrun run's checkpoint holds: the task's state, the network under `model.`."""
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}}, path)
    return path


def test_matching_tensors_load_and_a_new_head_is_reported(tmp_path):
    torch.manual_seed(0)
    old = MLP((64,), 10, hidden_sizes=[32])
    new = MLP((64,), 3, hidden_sizes=[32])
    report = transfer.load_pretrained(new, lightning_checkpoint(tmp_path / "old.ckpt", old))
    assert report.loaded == ["1.weight", "1.bias"]
    assert report.shape_mismatch == ["3.weight", "3.bias"]
    assert torch.equal(new[1].weight, old[1].weight)
    assert not torch.equal(new[3].bias[:3], old[3].bias[:3])
    assert "Loaded 2 tensors" in report.summary() and "3.weight" in report.summary()


def test_skipped_submodules_keep_their_fresh_weights_even_when_shapes_match(tmp_path):
    old, new = MLP((64,), 5, hidden_sizes=[32]), MLP((64,), 5, hidden_sizes=[32])
    fresh_head = new[3].weight.clone()
    report = transfer.load_pretrained(new, lightning_checkpoint(tmp_path / "old.ckpt", old), skip=["3"])
    assert report.loaded == ["1.weight", "1.bias"] and report.skipped == ["3.weight", "3.bias"]
    assert torch.equal(new[3].weight, fresh_head) and torch.equal(new[1].weight, old[1].weight)
    with pytest.raises(ValueError, match="transfer.skip: no submodule 'head'"):
        transfer.load_pretrained(new, tmp_path / "old.ckpt", skip=["head"])


def test_a_plain_state_dict_loads_too(tmp_path):
    old = MLP((4,), 3, hidden_sizes=[5])
    torch.save(old.state_dict(), tmp_path / "weights.pt")
    new = MLP((4,), 3, hidden_sizes=[5])
    assert len(transfer.load_pretrained(new, tmp_path / "weights.pt").loaded) == 4
    assert all(torch.equal(a, b) for a, b in zip(new.state_dict().values(), old.state_dict().values()))


def test_a_run_dir_means_its_best_checkpoint(tmp_path):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    best, last = MLP((4,), 3, hidden_sizes=[5]), MLP((4,), 3, hidden_sizes=[5])
    lightning_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt", last)
    lightning_checkpoint(tmp_path / "run" / "checkpoints" / "best.ckpt", best)
    new = MLP((4,), 3, hidden_sizes=[5])
    transfer.load_pretrained(new, tmp_path / "run")
    assert torch.equal(new[1].weight, best[1].weight)


@pytest.mark.parametrize(
    ("make_source", "message"),
    [
        (lambda tmp: tmp / "missing", "neither a run dir nor a checkpoint"),
        (lambda tmp: tmp, "has no checkpoints/weights.safetensors or checkpoints/best.ckpt"),
        (lambda tmp: lightning_checkpoint(tmp / "cnn.ckpt", torch.nn.Conv2d(1, 2, 3)), "matches this model"),
    ],
)
def test_bad_sources_say_what_is_wrong(tmp_path, make_source, message):
    with pytest.raises(ValueError, match=message):
        transfer.load_pretrained(MLP((4,), 3, hidden_sizes=[5]), make_source(tmp_path))


def test_freeze_stops_named_submodules_and_lists_the_choices_otherwise():
    model = MLP((4,), 3, hidden_sizes=[5])
    frozen = transfer.freeze(model, ["1"])
    assert [p.requires_grad for p in model.parameters()] == [False, False, True, True]
    assert len(frozen) == 2
    with pytest.raises(ValueError, match="top-level submodules are: 0, 1, 2, 3"):
        transfer.freeze(model, ["head"])


def test_pretrained_parameters_train_at_a_scaled_rate():
    model = MLP((4,), 3, hidden_sizes=[5])
    transfer.freeze(model, ["3"])
    pretrained = list(model[1].parameters())
    make = transfer.with_scaled_lr(functools.partial(torch.optim.SGD, lr=0.5), pretrained, 0.1)
    optimizer = make(model.parameters())
    [group] = optimizer.param_groups  # the frozen head is left out; only the scaled group remains
    assert group["lr"] == pytest.approx(0.05)
    assert {id(p) for p in group["params"]} == {id(p) for p in pretrained}


def test_fine_tuning_a_run_end_to_end(tmp_path):
    first = build_from_overrides(tmp_path / "a", "model=cnn", "data.steps_per_execution=4")
    first.trainer.fit(first.task, datamodule=first.datamodule)
    pretrained_features = {k: v.clone() for k, v in first.task.model.features.state_dict().items()}

    second = build_from_overrides(
        tmp_path / "b",
        "model=cnn",
        f"transfer.pretrained={tmp_path / 'a' / 'run'}",
        "transfer.freeze=[features]",
        "data.steps_per_execution=4",
    )
    loaded = second.task.model.features.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in pretrained_features.items())
    head_before = second.task.model.head[-1].weight.clone()
    second.trainer.fit(second.task, datamodule=second.datamodule)
    after = second.task.model.features.state_dict()
    # Frozen convolutions keep their weights (batch-norm running statistics may still move).
    assert all(
        torch.equal(after[k], v)
        for k, v in pretrained_features.items()
        if "running" not in k and "num_batches" not in k
    )
    assert not torch.equal(second.task.model.head[-1].weight, head_before)


def test_freeze_without_pretrained_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="need transfer.pretrained"):
        build_from_overrides(tmp_path, "transfer.freeze=[layers]")
