"""Provenance in results.json: versions, the command line as typed, the device, seed, host, times."""

from __future__ import annotations

import importlib.metadata
import json
import shlex
import socket
from datetime import datetime
from types import SimpleNamespace

import torch

from dlrun import provenance
from dlrun.report.collect import read_record
from dlrun.results import RunResult

TYPED = (
    "debug=fast",
    "logger=none",
    "seed=3",
    "optimizer.lr=0.01",
    "model.activation={name:leaky_relu,negative_slope:0.2}",  # needs quoting in a shell
    "hydra.run.dir=outputs/mine",
)


def test_a_trained_run_records_where_it_came_from(dlrun, tmp_path):
    done = dlrun("train", *TYPED)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "outputs" / "mine" / "results.json"
    data = json.loads(path.read_text())

    assert data["dlrun_version"] == importlib.metadata.version("dlrun")
    assert data["torch_version"] == importlib.metadata.version("torch") == torch.__version__
    assert data["lightning_version"] == importlib.metadata.version("pytorch-lightning")
    assert data["hydra_version"] == importlib.metadata.version("hydra-core")

    # What the user typed, shell-quoted: without the run dir dlrun would have added, re-runnable as is.
    assert shlex.split(data["command_line"]) == ["dlrun", "train", *TYPED]
    assert "'model.activation={name:leaky_relu,negative_slope:0.2}'" in data["command_line"]
    assert data["seed"] == 3

    started, ended = (datetime.fromisoformat(data[key]) for key in ("started_at", "ended_at"))
    assert started.tzinfo is not None and ended.tzinfo is not None
    assert started <= ended
    assert abs((ended - started).total_seconds() - data["wall_time_s"]) < 5
    assert abs((datetime.now().astimezone() - ended).total_seconds()) < 600

    assert data["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert isinstance(data["device_name"], str) and data["device_name"]
    # The tests' processes run on one thread (conftest's OMP_NUM_THREADS, which trainer.threads=auto
    # keeps) with OpenMP's own waiting.
    assert data["torch_threads"] == 1 and data["openmp_wait_policy"] is None
    assert data["threads_reason"] == "OMP_NUM_THREADS=1 in the environment"
    assert data["host"] == socket.gethostname()
    assert isinstance(data["pid"], int)

    record = read_record(path)  # dlrun report still reads it
    assert record.status == "completed" and record.overrides["seed"] == "3"


def test_a_sweep_job_records_the_sweep_command(dlrun, tmp_path):
    typed = ("-m", "debug=fast", "logger=none", "seed=0,1", "hydra.sweep.dir=outputs/sweep")
    done = dlrun("train", *typed)
    assert done.returncode == 0, done.stderr
    for job, seed in (("0", 0), ("1", 1)):
        data = json.loads((tmp_path / "outputs" / "sweep" / job / "results.json").read_text())
        assert shlex.split(data["command_line"]) == ["dlrun", "train", *typed]
        assert data["seed"] == seed
        assert data["status"] == "completed"


def no_remembered_line(monkeypatch) -> None:
    """Unset the variable for this test, and have monkeypatch unset it again afterwards."""
    monkeypatch.setenv(provenance.COMMAND_LINE_ENV, "")
    monkeypatch.delenv(provenance.COMMAND_LINE_ENV)


def test_the_command_line_is_kept_for_dlrun_train_only(monkeypatch):
    no_remembered_line(monkeypatch)
    for argv in (["/usr/bin/pytest", "train", "x=1"], ["/venv/bin/dlrun", "show", "x=1"], ["/venv/bin/dlrun"]):
        provenance.remember_command_line(argv)
        assert provenance.COMMAND_LINE_ENV not in provenance.os.environ
    provenance.remember_command_line(["/venv/bin/dlrun", "train", "a b=1"])
    assert provenance.os.environ[provenance.COMMAND_LINE_ENV] == "dlrun train 'a b=1'"
    provenance.remember_command_line(["/src/dlrun/__main__.py", "train", "-m", "seed=0,1"])
    assert provenance.command_line(["seed=0"]) == "dlrun train -m seed=0,1"


def test_without_a_typed_line_the_hydra_arguments_make_it(monkeypatch):
    no_remembered_line(monkeypatch)
    monkeypatch.setattr(provenance.sys, "argv", ["dlrun train", "model=cnn", "hydra.run.dir='out dir'"])
    assert shlex.split(provenance.command_line([])) == ["dlrun", "train", "model=cnn", "hydra.run.dir='out dir'"]
    monkeypatch.setattr(provenance.sys, "argv", ["worker.py", "--flag"])
    assert provenance.command_line(["seed=1", "model=mlp"]) == "dlrun train seed=1 model=mlp"


def test_the_device_is_what_the_trainer_uses():
    cpu_trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("cpu")))
    kind, name = provenance.describe_device(cpu_trainer)
    assert kind == "cpu" and name
    assert provenance.describe_device(SimpleNamespace()) == ("unknown", None)
    result = RunResult("dir", [], "val/loss", "min")
    result.record_device(cpu_trainer)
    assert (result.device, result.device_name) == (kind, name)


def test_times_are_iso_with_a_timezone():
    stamp = datetime.fromisoformat(provenance.now_iso())
    assert stamp.tzinfo is not None


def test_versions_of_missing_packages_are_none():
    assert provenance.version_of("no-such-distribution-for-dlrun") is None
    assert RunResult("dir", [], "val/loss", "min").dlrun_version == importlib.metadata.version("dlrun")
