"""Epochs are numbered from 1 everywhere a user reads one (dlrun.epochs): results.json, the summary,
the epoch lines, the best weights' metadata; Lightning's own state keeps its 0-based count."""

from __future__ import annotations

import json
import re

import pytest
from helpers import run_cli
from safetensors import safe_open

from dlrun.checkpoints import load_checkpoint
from dlrun.epochs import EPOCH_BASE_FIELD, history_for_users, recorded_epoch, user_epoch

MAX_EPOCHS = 40
# Large Adam steps on small batches: iris' val/loss jumps around and early stopping ends the run
# (with seed 0: best at epoch 3, stopped after epoch 5).
EARLY_STOPPED = (
    "train",
    "data=iris",
    "seed=0",
    f"trainer.max_epochs={MAX_EPOCHS}",
    "callbacks.early_stopping.patience=2",
    "optimizer.lr=0.05",
    "data.batch_size=8",
    "logger=none",
    "hydra.run.dir=run",
)


@pytest.fixture(scope="module")
def stopped_early(tmp_path_factory):
    root = tmp_path_factory.mktemp("epochs")
    done = run_cli(root, *EARLY_STOPPED)
    assert done.returncode == 0, done.stdout + done.stderr
    return root / "run", done.stdout


@pytest.mark.slow
def test_results_summary_lines_and_metadata_agree_on_epochs_from_one(stopped_early):
    run, stdout = stopped_early
    result = json.loads((run / "results.json").read_text())
    assert result[EPOCH_BASE_FIELD] == 1
    epochs, best = result["epochs"], result["best_epoch"]
    assert 1 < epochs < MAX_EPOCHS  # stopped early, after more than one epoch
    assert [row["epoch"] for row in result["history"]] == list(range(1, epochs + 1))
    best_row = min(result["history"], key=lambda row: row["val/loss"])
    assert best == best_row["epoch"] and result["best_value"] == pytest.approx(best_row["val/loss"])
    assert 1 <= best < epochs and result["tested_on"] == f"best (epoch {best}, restored by early stopping)"

    # The summary and the epoch lines.
    assert re.search(rf"best val/loss\s+│ [0-9.]+ \(epoch {best}\)", stdout), stdout
    assert re.search(rf"│ epochs\s+│ {epochs}\s", stdout), stdout
    lines = [line.split()[1] for line in stdout.splitlines() if line.startswith("epoch ")]
    assert lines == [f"{epoch}/{MAX_EPOCHS}" for epoch in range(1, epochs + 1)]

    # The best weights say which epoch they are from, as users number it; Lightning's checkpoint keeps
    # its own 0-based count, which resuming reads.
    with safe_open(str(run / "checkpoints" / "weights.safetensors"), "pt") as weights:
        metadata = weights.metadata()
    assert metadata["epoch"] == str(best) and metadata[EPOCH_BASE_FIELD] == "1"
    assert recorded_epoch(metadata, metadata["epoch"]) == best
    assert user_epoch(load_checkpoint(run / "checkpoints" / "best.ckpt")["epoch"]) == best
    assert user_epoch(load_checkpoint(run / "checkpoints" / "last.ckpt")["epoch"]) == epochs


def test_records_from_before_epoch_base_read_as_users_number_epochs():
    old = {"best_epoch": 2, "history": [{"epoch": 0}, {"epoch": 1}, {"epoch": 2}], "epochs": 3}
    new = {EPOCH_BASE_FIELD: 1, "best_epoch": 3, "history": [{"epoch": 1}, {"epoch": 2}, {"epoch": 3}], "epochs": 3}
    for record in (old, new):
        assert recorded_epoch(record, record["best_epoch"]) == 3
        assert [recorded_epoch(record, row["epoch"]) for row in record["history"]] == [1, 2, 3]
    assert recorded_epoch({"epoch": "4"}, "4") == 5  # old weights metadata: strings, from 0
    assert recorded_epoch({"epoch": "5", EPOCH_BASE_FIELD: "1"}, "5") == 5
    assert recorded_epoch(old, None) is None and recorded_epoch(old, "") is None
    assert history_for_users([{"epoch": 0, "val/loss": 1.0}]) == [{"epoch": 1, "val/loss": 1.0}]
