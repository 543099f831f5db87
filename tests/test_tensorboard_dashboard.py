"""What `tensorboard --logdir outputs` shows of dlrun's runs, read through TensorBoard's own code: the
HParams tab (the hparams plugin's HTTP routes), run names, and the final numbers of each run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import hparams_dashboard, run_cli, tensorboard_dir
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from dlrun.tensorboard_hparams import LONGEST_NAME, TensorBoardRunLogger

SWEEP = ("train", "-m", "data=iris", "model.hidden_sizes=[8],[16]", "trainer.max_epochs=2")
# Another task beside the sweep, under a root with a '/' in it: the override names the run too.
REGRESSION = ("train", "data=diabetes", "trainer.max_epochs=2", "paths.root=outputs/regression")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> Path:
    """`outputs/` after a 2-job classification sweep and a regression run, made as a user makes them."""
    cwd = tmp_path_factory.mktemp("dashboard")
    for command in (SWEEP, REGRESSION):
        done = run_cli(cwd, *command)
        assert done.returncode == 0, done.stdout + done.stderr
    return cwd / "outputs"


def run_dir_of(outputs: Path, session: str) -> Path:
    """A session's run dir: TensorBoard names a session by its events dir, relative to the logdir."""
    return outputs / session.rsplit("/tensorboard/", 1)[0]


@pytest.mark.slow
def test_hparams_puts_what_varies_first_and_shows_every_runs_own_final_metrics(outputs):
    experiment, groups = hparams_dashboard(outputs)

    differs = {info["name"]: info.get("differs", False) for info in experiment["hparamInfos"]}
    assert differs["model.hidden_sizes"] and differs["data"]
    assert not any(differs[name] for name in ("optimizer.lr", "seed", "trainer.max_epochs", "model"))
    assert "trainer.default_root_dir" not in differs  # the run's own dir says nothing about it
    # The frontend shows the first hyperparameters of this list: those that vary come first.
    varying = sum(differs.values())
    assert all(differs[info["name"]] for info in experiment["hparamInfos"][:varying])
    metrics = [info["name"]["tag"] for info in experiment["metricInfos"]]
    assert {"best/val/loss", "test/acc", "test/r2"} <= set(metrics)
    assert metrics[0] == "best/val/loss"  # the value the sweep is compared on is the first column shown

    assert len(groups) == 3
    for group in groups:
        result = json.loads((run_dir_of(outputs, group["name"]) / "results.json").read_text())
        values = {metric["name"]["tag"]: metric["value"] for metric in group["metricValues"]}
        expected = {**result["test_metrics"], "best/val/loss": result["best_value"]}
        assert {tag: values[tag] for tag in expected} == pytest.approx(expected, rel=1e-5)
        classification = group["hparams"]["data"] == "iris"
        assert ("test/acc" in values) == classification and ("test/r2" in values) != classification


@pytest.mark.slow
def test_a_run_is_named_by_its_overrides(outputs):
    _, groups = hparams_dashboard(outputs)
    names = sorted(group["name"].rsplit("/tensorboard/", 1)[1] for group in groups)
    assert names == [
        "data=diabetes,paths.root=outputs%2Fregression,trainer.max_epochs=2",
        "data=iris,model.hidden_sizes=[16],trainer.max_epochs=2",
        "data=iris,model.hidden_sizes=[8],trainer.max_epochs=2",
    ]
    # Each of those names is one dir, in the run dir it belongs to.
    [regression] = (outputs / "regression" / "train" / "runs").iterdir()
    assert tensorboard_dir(regression).parent == regression / "tensorboard"


@pytest.mark.slow
def test_the_final_numbers_are_a_table_in_the_text_tab(outputs):
    [sweep] = (outputs / "train" / "multiruns").iterdir()
    result = json.loads((sweep / "0" / "results.json").read_text())
    events = EventAccumulator(str(tensorboard_dir(sweep / "0")), size_guidance={"tensors": 0, "scalars": 0})
    events.Reload()
    [text] = events.Tensors("results/text_summary")  # the name SummaryWriter.add_text gives it
    table = text.tensor_proto.string_val[0].decode()
    assert table.startswith("| metric | value |")
    assert f"| test/acc | {result['test_metrics']['test/acc']:.6g} |" in table
    assert f"| best/val/loss | {result['best_value']:.6g} |" in table
    # Sessions only: an experiment summary would make one run's columns everybody's.
    assert set(events.PluginTagToContent("hparams")) == {"_hparams_/session_start_info", "_hparams_/session_end_info"}


@pytest.mark.slow
def test_the_custom_scalars_tab_overlays_each_metrics_train_and_val_curves(outputs):
    import re

    from tensorboard.plugins.custom_scalar import layout_pb2

    [sweep] = (outputs / "train" / "multiruns").iterdir()
    events = EventAccumulator(str(tensorboard_dir(sweep / "0")), size_guidance={"tensors": 0, "scalars": 0})
    events.Reload()
    [config] = events.Tensors("custom_scalars__config__")
    layout = layout_pb2.Layout.FromString(config.tensor_proto.string_val[0])
    [section] = layout.category
    charts = {chart.title: list(chart.multiline.tag) for chart in section.chart}
    assert section.title == "train and val" and {"loss", "acc"} <= set(charts)
    scalars = events.Tags()["scalars"]
    for title in ("loss", "acc"):
        [pattern] = charts[title]
        assert sorted(tag for tag in scalars if re.search(pattern, tag)) == [f"train/{title}", f"val/{title}"]


@pytest.mark.slow
def test_a_resumed_run_that_trains_longer_stays_one_tensorboard_run(dlrun, tmp_path):
    done = dlrun("train", "data=iris", "trainer.max_epochs=1", "hydra.run.dir=run")
    assert done.returncode == 0, done.stdout + done.stderr
    first = tensorboard_dir(tmp_path / "run")
    done = dlrun("resume", "run", "trainer.max_epochs=2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert tensorboard_dir(tmp_path / "run") == first  # its new overrides name no second run
    events = EventAccumulator(str(first), size_guidance={"scalars": 0})
    events.Reload()
    assert len(events.Scalars("val/loss")) == 2


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ("data.path=/data/a.csv,seed=1", "data.path=%2Fdata%2Fa.csv,seed=1"),
        ("data.path=../../elsewhere", "data.path=..%2F..%2Felsewhere"),
        ('note=a\\b:c*d?"e"<f>|g%', "note=a%5Cb%3Ac%2Ad%3F%22e%22%3Cf%3E%7Cg%25"),
        ("", ""),
    ],
)
def test_the_run_name_is_one_dir_in_the_tensorboard_dir(tmp_path, overrides, name):
    logger = TensorBoardRunLogger(tmp_path, name="tensorboard", version=overrides)
    assert Path(logger.log_dir) == tmp_path / "tensorboard" / name


def test_a_run_name_too_long_for_a_file_name_is_cut_and_stays_unique(tmp_path):
    long = ",".join(f"model.layer_{i}.width=128" for i in range(20))
    names = [Path(TensorBoardRunLogger(tmp_path, version=long + end).log_dir).name for end in ("", ",seed=1")]
    assert names[0] != names[1]
    assert all(len(name.encode()) <= LONGEST_NAME and name.startswith(long[:100]) for name in names)
