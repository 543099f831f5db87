"""DDP under Hydra, as users run it: 2 CPU processes (gloo) in one run and in a sweep, with the
weights of one process given the same global batch."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import build_from_overrides

from dlrun.checkpoints import load_checkpoint
from dlrun.data.loader import TensorBatches

pytestmark = pytest.mark.slow

ONE_EPOCH = ("trainer.max_epochs=1", "logger=none", "data.batch_size=64")


def last_weights(run_dir) -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / "checkpoints" / "last.ckpt")["state_dict"]


def test_two_processes_train_the_weights_of_one_with_the_same_global_batch(dlrun, tmp_path):
    # 20 batches of 64 (1,280 of digits' 1,437 training examples): every batch splits evenly.
    steps = ("trainer.limit_train_batches=20",)
    initial = build_from_overrides(tmp_path / "init", *ONE_EPOCH).task.state_dict()  # seed 0, as both runs
    one = dlrun("train", *ONE_EPOCH, *steps, "data.steps_per_execution=1", "hydra.run.dir=one")
    two = dlrun("train", "trainer=ddp", *ONE_EPOCH, *steps, "hydra.run.dir=two")
    assert one.returncode == 0 and two.returncode == 0, two.stdout + two.stderr
    single, distributed = last_weights(tmp_path / "one"), last_weights(tmp_path / "two")
    assert single.keys() == distributed.keys()
    # Float rounding of the all-reduce, through 20 Adam steps: far below what training moved them.
    moved = max((single[k] - initial[k]).abs().max().item() for k in single)
    apart = max((single[k] - distributed[k]).abs().max().item() for k in single)
    assert apart < 1e-4 < 1e-2 < moved, (apart, moved)
    record = json.loads((tmp_path / "two" / "results.json").read_text())
    assert record["status"] == "completed" and record["test_metrics"]["test/acc"] > 0.8
    assert sorted(p.name for p in (tmp_path / "two").iterdir() if p.suffix == ".log") == [
        "train.log",
        "train_ddp_process_1.log",
    ]


def test_a_sweep_of_ddp_runs_runs_each_job_once_in_its_own_dir(dlrun, tmp_path):
    done = dlrun("train", "-m", "trainer=ddp", *ONE_EPOCH, "optimizer.lr=0.01,0.02", "hydra.sweep.dir=sweep")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 jobs: 2 completed" in done.stdout
    assert sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir()) == ["0", "1"]
    assert not [p for p in tmp_path.rglob("multiruns")] and not (tmp_path / "outputs").exists()


def test_each_rank_takes_its_share_of_every_batch():
    tensors = {"inputs": torch.arange(10.0)[:, None], "targets": torch.arange(10)}
    torch.manual_seed(3)
    whole = [batch["targets"] for batch in TensorBatches(tensors, 4, shuffle=True)]
    shares = []
    for rank in (0, 1):
        torch.manual_seed(3)
        shares.append([batch["targets"] for batch in TensorBatches(tensors, 4, shuffle=True, shard=(rank, 2))])
    assert len(shares[0]) == len(shares[1]) == 3  # the last batch of 2 still splits
    for batch, mine, theirs in zip(whole, *shares):
        assert torch.equal(mine, batch[0::2]) and torch.equal(theirs, batch[1::2])
