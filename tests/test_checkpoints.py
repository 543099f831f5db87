"""Checkpoints load as tensors and plain values only: a pickle that would run code is refused."""

from __future__ import annotations

import pytest
import torch
from conftest import build_from_overrides, make_trainer
from helpers import malicious_checkpoint
from safetensors.torch import load_file

from dlrun.callbacks import ModelCheckpoint
from dlrun.checkpoints import UnsafeCheckpointError, load_checkpoint, load_weights
from dlrun.fit_and_test import use_best_weights
from dlrun.models import MLP
from dlrun.training import transfer


def test_the_payload_is_real(tmp_path):
    """Guards the other tests: loading this file the unsafe way does run the payload."""
    path = malicious_checkpoint(tmp_path / "evil.ckpt", tmp_path / "ran")
    torch.load(path, weights_only=False)
    assert (tmp_path / "ran").exists()


def test_a_pickled_object_is_refused_and_named(tmp_path, marker):
    path = malicious_checkpoint(tmp_path / "evil.ckpt", marker)
    for load in (load_checkpoint, load_weights):
        with pytest.raises(UnsafeCheckpointError) as info:
            load(path)
        message = str(info.value)
        assert "could run code" in message and "system" in message and "weights only" in message


def test_transfer_pretrained_refuses_it_from_a_file_and_from_a_run_dir(tmp_path, marker):
    malicious_checkpoint(tmp_path / "evil.ckpt", marker)
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    malicious_checkpoint(tmp_path / "run" / "checkpoints" / "best.ckpt", marker)
    for source in (tmp_path / "evil.ckpt", tmp_path / "run"):
        with pytest.raises(UnsafeCheckpointError):
            transfer.load_pretrained(MLP((4,), 3, hidden_sizes=[5]), source)


def test_testing_on_the_best_checkpoint_refuses_it(tmp_path, marker):
    """The run's own test step reads the best checkpoint through the safe loader, not Lightning's."""
    evil = malicious_checkpoint(tmp_path / "best.ckpt", marker)
    checkpoint = ModelCheckpoint(dirpath=tmp_path)
    checkpoint.best_model_path = str(evil)
    trainer = make_trainer(tmp_path, callbacks=[checkpoint], enable_checkpointing=True)
    with pytest.raises(UnsafeCheckpointError):
        use_best_weights(trainer, torch.nn.Module())


def test_the_cli_refuses_it_with_one_paragraph_and_exit_2(dlrun, tmp_path, marker):
    evil = malicious_checkpoint(tmp_path / "evil.ckpt", marker)
    done = dlrun("train", "debug=fast", "model.hidden_sizes=[5]", f"transfer.pretrained={evil}")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "could run code" in done.stderr
    assert "weights only" in done.stderr


def test_a_truncated_file_is_a_clear_error(tmp_path):
    path = tmp_path / "cut.ckpt"
    torch.save({"state_dict": {"w": torch.ones(100)}}, path)
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(Exception, match="Could not read the checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "overrides",
    [
        ("model=mlp", "optimizer=sgd", "scheduler=step"),
        ("model=cnn", "optimizer=adamw", "scheduler=cosine", "scheduler.warmup_steps=2"),
        ("model=lenet5", "optimizer=rmsprop", "scheduler=plateau"),
        ("model=resnet", "model.blocks_per_stage=[1]", "model.channels=[8]", "scheduler=onecycle"),
        ("model=vgg", "model.blocks=[1]", "model.channels=[8]", "optimizer=nesterov", "scheduler=exponential"),
        ("model=alexnet", "model.width=0.125", "optimizer=adagrad"),
        ("data=diabetes", "optimizer=adadelta"),
    ],
    ids=lambda o: o[0],
)
def test_dlruns_own_checkpoints_load_with_their_training_state(tmp_path, overrides):
    run = build_from_overrides(tmp_path, "callbacks.early_stopping.restore_best_weights=false", *overrides)
    run.trainer.fit(run.task, datamodule=run.datamodule)
    directory = tmp_path / "run" / "checkpoints"
    for name in ("best.ckpt", "last.ckpt"):
        assert torch.serialization.get_unsafe_globals_in_checkpoint(directory / name) == []
        saved = load_checkpoint(directory / name)
        assert saved["optimizer_states"] and "loops" in saved and saved["callbacks"]
        if "scheduler=" in " ".join(overrides):
            assert saved["lr_schedulers"]
        run.task.load_state_dict(saved["state_dict"])  # the whole task's state, strictly
    assert use_best_weights(run.trainer, run.task) == "best (best.ckpt)"


def test_the_best_weights_are_also_written_as_safetensors(tmp_path):
    run = build_from_overrides(tmp_path, "trainer.max_epochs=3", "callbacks.early_stopping.restore_best_weights=false")
    run.trainer.fit(run.task, datamodule=run.datamodule)
    directory = tmp_path / "run" / "checkpoints"
    best = load_weights(directory / "best.ckpt")
    exported = load_file(directory / "weights.safetensors")
    assert exported.keys() == best.keys() == run.task.model.state_dict().keys()
    assert all(torch.equal(exported[k], best[k]) for k in best)
    assert not list(directory.glob(".*tmp"))  # written atomically, nothing left behind


def test_transfer_pretrained_takes_safetensors_and_prefers_them_in_a_run_dir(tmp_path):
    first = build_from_overrides(tmp_path / "a", "model.hidden_sizes=[16]")
    first.trainer.fit(first.task, datamodule=first.datamodule)
    run_dir = tmp_path / "a" / "run"
    assert transfer.checkpoint_path(run_dir).name == "weights.safetensors"
    expected = load_file(run_dir / "checkpoints" / "weights.safetensors")
    for source in (run_dir, run_dir / "checkpoints" / "weights.safetensors"):
        second = build_from_overrides(tmp_path / "b", "model.hidden_sizes=[16]", f"transfer.pretrained={source}")
        loaded = second.task.model.state_dict()
        assert all(torch.equal(loaded[k], v) for k, v in expected.items())
