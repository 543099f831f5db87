"""The command line, end to end, in subprocesses: the way users call it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import dlrun_env
from helpers import assert_user_error, tensorboard_dir
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

pytestmark = pytest.mark.slow

TINY = ("debug=fast",)


def run_dirs(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.glob("outputs/**/results.json"))


def results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


# -- help and import weight -------------------------------------------------------------------


def test_help_lists_the_verbs(dlrun):
    for args in ((), ("--help",)):
        done = dlrun(*args)
        assert done.returncode == 0, done.stderr
        for verb in ("train", "show", "ls"):
            assert verb in done.stdout


def test_cli_module_imports_nothing_heavy():
    code = (
        "import sys, dlrun.cli; "
        "heavy = [m for m in ('torch', 'pytorch_lightning', 'hydra', 'omegaconf') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=dlrun_env())


# -- train ------------------------------------------------------------------------------------


def test_train_writes_a_complete_run_dir(dlrun, tmp_path):
    done = dlrun("train", *TINY, "optimizer.lr=0.01")
    assert done.returncode == 0, done.stderr
    [run_dir] = run_dirs(tmp_path)
    assert run_dir.parent == tmp_path / "outputs" / "train" / "runs"

    assert (run_dir / ".hydra" / "config.yaml").is_file()
    overrides = (run_dir / ".hydra" / "overrides.yaml").read_text()
    assert "optimizer.lr=0.01" in overrides and "debug=fast" in overrides
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()

    result = results(run_dir)
    assert result["status"] == "completed"
    assert result["overrides"] == ["debug=fast", "optimizer.lr=0.01"]
    assert result["monitor"] == "val/loss" and isinstance(result["best_value"], float)
    assert result["epochs"] == 1 and result["wall_time_s"] > 0
    assert set(result["test_metrics"]) == {"test/loss", "test/acc", "test/precision", "test/recall", "test/f1"}
    assert 0.0 <= result["test_metrics"]["test/acc"] <= 1.0
    assert result["history"][0]["val/loss"] == pytest.approx(result["best_value"])

    # The summary names what a user needs next.
    assert "best val/loss" in done.stdout
    assert "tensorboard --logdir" in done.stdout
    # Plain progress lines when output is not a terminal.
    assert "epoch 1/1" in done.stdout


def test_tensorboard_events_hold_scalars_and_a_real_hparams_session(dlrun, tmp_path):
    done = dlrun("train", *TINY, "trainer.max_epochs=2")
    assert done.returncode == 0, done.stderr
    [run_dir] = run_dirs(tmp_path)
    result = results(run_dir)

    events = EventAccumulator(str(tensorboard_dir(run_dir)), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    tags = events.Tags()
    for tag in ("train/loss", "train/acc", "train/loss_step", "val/loss", "val/acc", "test/acc", "test/f1"):
        assert tag in tags["scalars"], tag
    assert [e.value for e in events.Scalars("val/loss")] == pytest.approx(
        [row["val/loss"] for row in result["history"]], rel=1e-6
    )
    assert "test/confusion_matrix" in tags["images"]

    content = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = start.session_start_info.hparams
    assert hparams["model"].string_value == "mlp"
    assert hparams["optimizer"].string_value == "adam"
    assert hparams["optimizer.lr"].number_value == pytest.approx(0.001)
    assert hparams["trainer.max_epochs"].number_value == 2
    assert "hp_metric" not in tags["scalars"]  # Lightning's placeholder is off

    # No experiment summary (TensorBoard infers it from every run's session, see
    # tests/test_tensorboard_dashboard.py); HParams takes a metric's value from its scalar's last one.
    assert "_hparams_/experiment" not in content
    final = {**result["test_metrics"], "best/val/loss": result["best_value"]}
    for tag, expected in final.items():
        assert events.Scalars(tag)[-1].value == pytest.approx(expected, rel=1e-5), tag


def test_multirun_gives_each_job_its_own_dir(dlrun, tmp_path):
    done = dlrun("train", "-m", *TINY, "optimizer=adam,sgd")
    assert done.returncode == 0, done.stderr
    [sweep_dir] = (tmp_path / "outputs" / "train" / "multiruns").iterdir()
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["0", "1"]
    assert (sweep_dir / "multirun.yaml").is_file()
    overrides = {tuple(results(sweep_dir / job)["overrides"]) for job in ("0", "1")}
    assert overrides == {("debug=fast", "optimizer=adam"), ("debug=fast", "optimizer=sgd")}
    assert all(results(sweep_dir / job)["status"] == "completed" for job in ("0", "1"))


@pytest.mark.parametrize(
    ("overrides", "metric"),
    [
        (("data=diabetes",), "test/r2"),
        (("data=breast_cancer",), "test/f1"),
        (("model=cnn",), "test/acc"),
        (("experiment=digits_cnn", "logger=csv"), "test/acc"),
        (("logger=none", "callbacks=none"), "test/acc"),
    ],
)
def test_every_task_and_model_family_trains(dlrun, tmp_path, overrides, metric):
    done = dlrun("train", *TINY, *overrides)
    assert done.returncode == 0, done.stderr
    [run_dir] = run_dirs(tmp_path)
    assert metric in results(run_dir)["test_metrics"]


def test_seed_zero_is_a_seed(dlrun, tmp_path):
    # One process runs the three jobs: seed 0 twice gives the same run even after another run in it.
    done = dlrun("train", "-m", *TINY, "logger=none", "seed=0,0,1", "hydra.sweep.dir=outputs/seeds")
    assert done.returncode == 0, done.stderr
    first, second, other = (results(tmp_path / "outputs" / "seeds" / job)["test_metrics"]["test/loss"] for job in "012")
    assert first == second
    assert other != first


def test_a_user_config_dir_adds_options(dlrun, tmp_path):
    mine = tmp_path / "my_conf" / "model"
    mine.mkdir(parents=True)
    (mine / "tiny.yaml").write_text(
        "# A one-layer MLP of my own\n_target_: dlrun.models.MLP\nhidden_sizes: [8]\nactivation: tanh\n"
    )
    listed = dlrun("ls", "model", "--config-dir", "my_conf")
    assert listed.returncode == 0 and "A one-layer MLP of my own" in listed.stdout
    done = dlrun("train", "--config-dir", "my_conf", "model=tiny", *TINY)
    assert done.returncode == 0, done.stderr
    [run_dir] = run_dirs(tmp_path)
    assert "hidden_sizes:\n  - 8" in (run_dir / ".hydra" / "config.yaml").read_text()
    # A config dir that is not there is refused by every verb, ls too, rather than searched in vain.
    assert_user_error(dlrun("ls", "model", "--config-dir", "my_confs"), "--config-dir 'my_confs' does not exist")


def test_an_existing_run_dir_is_never_written_into(dlrun, tmp_path):
    assert dlrun("train", *TINY, "hydra.run.dir=outputs/mine").returncode == 0
    before = (tmp_path / "outputs" / "mine" / "results.json").read_text()
    again = dlrun("train", *TINY, "hydra.run.dir=outputs/mine")
    assert_user_error(again, "already exists")
    assert (tmp_path / "outputs" / "mine" / "results.json").read_text() == before


# -- show and ls ------------------------------------------------------------------------------


def test_show_prints_the_resolved_config(dlrun):
    done = dlrun("show", "model=cnn", "optimizer=sgd", "optimizer.momentum=0.9", "seed=0")
    assert done.returncode == 0, done.stderr
    assert "_target_: dlrun.models.cnn.CNN" in done.stdout
    assert "momentum: 0.9" in done.stdout
    assert "seed: 0" in done.stdout
    assert "hydra:" not in done.stdout and "${" not in done.stdout


def test_ls_lists_groups_options_and_descriptions(dlrun):
    done = dlrun("ls")
    assert done.returncode == 0, done.stderr
    for group in ("data:", "model:", "optimizer:", "scheduler:", "trainer:", "callbacks:", "logger:", "debug:"):
        assert group in done.stdout
    assert "* mlp" in done.stdout and "Multi-layer perceptron" in done.stdout
    assert "_sklearn" not in done.stdout  # shared bases are not options
    only = dlrun("ls", "optimizer")
    assert "adam" in only.stdout and "mlp" not in only.stdout


def test_show_refuses_what_train_refuses_once_it_has_the_data(dlrun, tmp_path):
    # Which loss suits the data, which model its inputs, which metric its task logs: known once built.
    args = ("data=breast_cancer", "loss=cross_entropy")
    shown, trained = dlrun("show", *args), dlrun("train", *TINY, *args)
    message = "This combination does not work: the loss CrossEntropy is for multiclass tasks, but this data is binary."
    assert_user_error(shown, message)
    assert_user_error(trained, message)
    assert shown.stdout == "" and shown.stderr.splitlines()[-1] == trained.stderr.splitlines()[-1]
    assert len(run_dirs(tmp_path)) == 1  # train's, marked failed; show wrote nothing


# -- user errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("train", "model=mlpp"), ("model option 'mlpp'", "cnn, gru, lenet5, lstm, mlp", "Did you mean mlp?")),
        (("train", "optimizer.lrr=0.1"), ("optimizer.lrr", "Did you mean optimizer.lr?")),
        (("train", "modle=cnn"), ("modle", "Did you mean model?")),
        (("train", "-m", "optimizer=adam,sgdd"), ("sgdd", "Did you mean sgd?")),
        (("train", "trainer.max_epochs=abc"), ("trainer.max_epochs must be a number",)),
        (("train", "monitor=val/acc", "monitor_mode=up"), ("monitor_mode", "max, min")),
        (("show", "data=digit"), ("Did you mean digits?",)),
        (("train", "=adam"), ("'=adam' is not an override: it names no key.", "key=value", "group=option", "~key")),
        (("ls", "modle"), ("Did you mean model?",)),
    ],
)
def test_config_typos_fail_fast_with_a_suggestion(dlrun, tmp_path, args, needles):
    assert_user_error(dlrun(*args), *needles)
    assert not (tmp_path / "outputs").exists()  # nothing was started


@pytest.mark.parametrize(
    ("overrides", "needles"),
    [
        (("model=cnn", "data=iris"), ("image data", "model=mlp")),
        (("monitor=val/accc",), ("monitor 'val/accc'", "Did you mean val/acc?")),
        (("data.val_fraction=0.7", "data.test_fraction=0.4"), ("must leave examples for training",)),
    ],
)
def test_problems_found_at_run_time_are_user_errors_too(dlrun, tmp_path, overrides, needles):
    done = dlrun("train", *TINY, *overrides)
    assert_user_error(done, *needles)
    [run_dir] = run_dirs(tmp_path)
    assert results(run_dir)["status"] == "failed"
