"""`dlrun resume` after a real `kill -9`: the weights, metrics and curves of a run never interrupted."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from conftest import dlrun_env
from helpers import assert_user_error, malicious_checkpoint

from dlrun.checkpoints import load_checkpoint

# Dropout (the random generators), a cosine schedule and early stopping's state all have to come back.
RUN = (
    "model=cnn",
    "model.channels=[4,8]",
    "model.head_sizes=[16]",
    "model.dropout=0.3",
    "scheduler=cosine",
    "trainer.max_epochs=5",
    "logger=none",
    "callbacks.early_stopping.patience=2",
    "data.steps_per_execution=4",
)


def last_epoch(run_dir) -> int:
    path = run_dir / "checkpoints" / "last.ckpt"
    return load_checkpoint(path)["epoch"] if path.exists() else -1


def killed_after(tmp_path, name: str, epoch: int, *command: str) -> None:
    """Run `command` and SIGKILL it once the run's last checkpoint is past `epoch` (it may be mid-epoch then)."""
    killed_when(tmp_path, lambda: last_epoch(tmp_path / name) >= epoch, *command)


def killed_when(tmp_path, ready, *command: str) -> None:
    """Run `command` and SIGKILL it as soon as `ready()`."""
    run = subprocess.Popen(
        [sys.executable, "-m", "dlrun", *command],
        cwd=tmp_path,
        env=dlrun_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while not ready():
        assert run.poll() is None, "the run ended before it could be killed"
        time.sleep(0.02)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()


def inside_an_epoch(path) -> tuple[int, int] | None:
    """(epoch, batches done) when the checkpoint at `path` was taken inside an epoch."""
    if not path.exists():
        return None
    checkpoint = load_checkpoint(path)
    done = checkpoint.get("SklearnDataModule", {}).get("batches_done", 0)
    return (checkpoint["epoch"], done) if done else None


def results(run_dir) -> dict:
    return json.loads((run_dir / "results.json").read_text())


@pytest.mark.slow
def test_a_run_killed_at_any_point_resumes_to_the_uninterrupted_result(dlrun, tmp_path):
    assert dlrun("train", *RUN, "hydra.run.dir=whole").returncode == 0
    whole = load_checkpoint(tmp_path / "whole" / "checkpoints" / "last.ckpt")["state_dict"]
    killed_after(tmp_path, "run", 0, "train", *RUN, "hydra.run.dir=run")
    assert results(tmp_path / "run")["status"] == "running"  # kill -9 gave it no chance to say otherwise
    killed_after(tmp_path, "run", 2, "resume", "run")  # a resumed run killed again, later on
    done = dlrun("resume", "run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "status was interrupted" in done.stdout
    resumed = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")["state_dict"]
    assert all((resumed[k] == whole[k]).all() for k in whole)
    for key in ("status", "test_metrics", "history", "best_value", "best_epoch", "epochs"):
        assert results(tmp_path / "run")[key] == results(tmp_path / "whole")[key], key


@pytest.mark.slow
def test_a_run_killed_inside_an_epoch_goes_on_from_its_next_batch(dlrun, tmp_path):
    # A checkpoint after every Lightning batch (4 optimizer steps, data.steps_per_execution=4).
    run = (*RUN, "callbacks.step_checkpoint.every_n_train_steps=4")
    assert dlrun("train", *run, "hydra.run.dir=whole").returncode == 0
    whole = load_checkpoint(tmp_path / "whole" / "checkpoints" / "last.ckpt")["state_dict"]
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    killed_when(tmp_path, lambda: (inside_an_epoch(last) or (0, 0))[0] >= 1, "train", *run, "hydra.run.dir=run")
    epoch, done = inside_an_epoch(last)
    done_run = dlrun("resume", "run")
    assert done_run.returncode == 0, done_run.stdout + done_run.stderr
    assert "resuming from a checkpoint that ended before the epoch ended" not in done_run.stderr
    resumed = load_checkpoint(last)["state_dict"]
    assert all((resumed[k] == whole[k]).all() for k in whole), f"killed in epoch {epoch} after {done} batches"
    for key in ("status", "test_metrics", "history", "best_value", "best_epoch", "epochs"):
        assert results(tmp_path / "run")[key] == results(tmp_path / "whole")[key], key


@pytest.mark.slow
def test_resume_only_lengthens_a_run_and_refuses_what_it_cannot_continue(dlrun, tmp_path, marker):
    from dlrun.commands.resume import resume
    from dlrun.errors import DlrunError

    assert dlrun("train", "debug=fast", "logger=none", "hydra.run.dir=done").returncode == 0
    run_dir = tmp_path / "done"
    for overrides, needle in (
        ([], "trainer.max_epochs=N"),
        (["optimizer.lr=0.1"], "'optimizer.lr=0.1' would change it"),
        (["trainer.max_epochs=1"], "does not extend the run"),
    ):
        with pytest.raises(DlrunError, match=re.escape(needle)):
            resume(run_dir, overrides)
    with pytest.raises(DlrunError, match="does not exist"):
        resume(tmp_path / "nowhere", [])
    (tmp_path / "plain").mkdir()
    with pytest.raises(DlrunError, match="not a dlrun run dir"):
        resume(tmp_path / "plain", [])
    longer = dlrun("resume", "done", "trainer.max_epochs=3")
    assert longer.returncode == 0 and results(run_dir)["epochs"] == 3, longer.stderr
    assert (run_dir / ".hydra" / "config.yaml").is_file() and list((run_dir / ".hydra").glob("resumed-*"))

    malicious_checkpoint(run_dir / "checkpoints" / "last.ckpt", marker)
    assert_user_error(dlrun("resume", "done", "trainer.max_epochs=5"), "weights only")
