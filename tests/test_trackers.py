"""MLflow and W&B beside TensorBoard (dlrun.trackers): a run with several loggers writes to each, read
back with each tool's own client; `dlrun resume` goes on in the same MLflow run; a missing extra is a
one-paragraph error. The end-to-end runs share one trained run dir (two processes in all)."""

from __future__ import annotations

import json
import os
import struct
import textwrap
from pathlib import Path

import pytest
from conftest import NO_NETWORK
from helpers import assert_user_error, run_cli

from dlrun.config.compose import ConfigSource
from dlrun.config.validate import check
from dlrun.errors import ConfigError
from dlrun.trackers.mlflow_run import RECORD, MLflowRunLogger
from dlrun.trackers.sinks import MLFLOW_LONGEST_PARAM, Sinks, closing_trackers
from dlrun.trust.allowed import is_allowed

# Two epochs of 5 optimizer steps (debug=fast), so train and validation values come at steps 5 and 10.
RUN = ("debug=fast", "trainer.max_epochs=2", "optimizer.lr=0.003", "logger=[tensorboard,mlflow,wandb]")


@pytest.fixture(scope="module")
def tracked(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tracked")
    done = run_cli(root, "train", *RUN, "hydra.run.dir=run")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return root


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """One MLflow store for the in-process tests: making one (MLflow's migrations) takes seconds."""
    return f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"


def mlflow_run(root: Path):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{root / 'outputs' / 'mlflow.db'}")
    [run] = mlflow.search_runs(experiment_names=["digits"], output_format="list")
    return mlflow.tracking.MlflowClient(), run


def steps_of(client, run_id: str, key: str) -> list[int]:
    return [m.step for m in client.get_metric_history(run_id, key)]


@pytest.mark.slow
def test_the_summary_says_how_to_open_what_each_logger_wrote(tracked):
    summary = (tracked / "run" / "train.log").read_text()
    assert "tensorboard --logdir run" in summary
    assert "mlflow ui --backend-store-uri sqlite:///outputs/mlflow.db" in summary  # from where dlrun ran
    assert "wandb sync run/wandb/offline-run-*" in summary
    # The trackers' own chatter (MLflow making its store, W&B's banner and charts) stays out of the log.
    assert "mlflow.store" not in summary and "wandb:" not in summary, summary


@pytest.mark.slow
def test_mlflow_gets_params_metrics_at_the_optimizer_steps_and_the_figures(tracked):
    results = json.loads((tracked / "run" / "results.json").read_text())
    client, run = mlflow_run(tracked)
    assert run.info.status == "FINISHED"
    assert run.info.run_name.startswith("debug=fast,") and "optimizer.lr=0.003" in run.info.run_name
    params = run.data.params
    assert params["optimizer.lr"] == "0.003" and params["trainer.max_epochs"] == "2"
    assert params["model"] == "mlp" and params["data"] == "digits" and params["seed"] == "0"
    for key in ("train/loss", "train/acc", "val/loss", "val/acc"):
        assert steps_of(client, run.info.run_id, key) == [5, 10], key
    assert steps_of(client, run.info.run_id, "train/loss_step") == list(range(1, 11))
    for name, value in results["test_metrics"].items():
        assert run.data.metrics[name] == pytest.approx(value), name
        assert steps_of(client, run.info.run_id, name) == [10]
    assert run.data.metrics["best/val/loss"] == pytest.approx(results["best_value"])
    artifacts = {
        a.path
        for folder in ("", "test", "test/confusion_matrix", "val", "val/confusion_matrix")
        for a in client.list_artifacts(run.info.run_id, folder or None)
    }
    assert "test/confusion_matrix/step_000010.png" in artifacts and "results.md" in artifacts
    # The run dir names its MLflow run, and the figures sit under paths.root, not where MLflow defaults.
    record = json.loads((tracked / "run" / RECORD).read_text())
    assert record["run_id"] == run.info.run_id
    assert list((tracked / "outputs" / "mlartifacts").rglob("step_000010.png"))


def wandb_records(path: Path):
    """The records of an offline `.wandb` file (W&B's LevelDB-style log of protobuf records; the
    wandb package has no reader of its own any more): 32 KiB blocks of chunks, each with a 7-byte
    header (checksum, length, type: 1 full, 2 first, 3 middle, 4 last), after a 7-byte file header."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    position, pending = 7, b""
    while position + 7 <= len(data):
        left = 32768 - position % 32768
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        if left < 7 or (kind == 0 and length == 0):  # the rest of a block is padding
            position += left
            continue
        pending += data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def wandb_run(run_dir: Path) -> dict:
    """What the offline run holds: its name, config, summary (every update, the last one winning) and
    history rows, values decoded from JSON."""
    [path] = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    found: dict = {"config": {}, "summary": {}, "history": [], "dir": path.parent}
    for record in wandb_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            found["name"] = record.run.display_name
        elif kind == "config":
            found["config"].update({item.key: json.loads(item.value_json) for item in record.config.update})
        elif kind == "summary":
            found["summary"].update(unnested(record.summary.update))
        elif kind == "history":
            found["history"].append(unnested(record.history.item))
    return found


def unnested(items) -> dict:
    """W&B's items by name: `key`, or `nested_key` joined with "/" (W&B splits names at "/", and a
    medium's fields come as `<name>/_type`, `<name>/path`, ...)."""
    return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items}


@pytest.mark.slow
def test_wandb_offline_run_has_config_summary_history_and_media(tracked):
    results = json.loads((tracked / "run" / "results.json").read_text())
    run = wandb_run(tracked / "run")
    assert "optimizer.lr=0.003" in run["name"]
    assert run["config"]["optimizer.lr"] == 0.003 and run["config"]["model"] == "mlp"
    for name, value in results["test_metrics"].items():
        assert run["summary"][name] == pytest.approx(value), name
    assert run["summary"]["best/val/loss"] == pytest.approx(results["best_value"])
    # Every value carries the optimizer step as trainer/global_step, W&B's x axis for them.
    assert [row["trainer/global_step"] for row in run["history"] if "val/loss" in row] == [5, 10]
    assert [row["trainer/global_step"] for row in run["history"] if "train/loss" in row] == [5, 10]
    [matrix] = [row for row in run["history"] if "test/confusion_matrix/_type" in row]
    assert matrix["test/confusion_matrix/_type"] == "images/separated" and matrix["trainer/global_step"] == 10
    assert list((run["dir"] / "files" / "media" / "images").glob("test/confusion_matrix_*.png"))
    assert any(row.get("diagnostics/weights/model.1/_type") == "histogram" for row in run["history"])


@pytest.mark.slow
def test_tensorboard_still_gets_everything_beside_them(tracked):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    [logdir] = {p.parent for p in (tracked / "run" / "tensorboard").rglob("events.out.tfevents.*")}
    events = EventAccumulator(str(logdir), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    assert [e.step for e in events.Scalars("val/loss")] == [5, 10]
    assert [e.step for e in events.Images("test/confusion_matrix")] == [10]


@pytest.mark.slow
def test_resume_goes_on_in_the_same_mlflow_run(tracked):
    before = json.loads((tracked / "run" / RECORD).read_text())
    done = run_cli(tracked, "resume", "run", "trainer.max_epochs=3")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    client, run = mlflow_run(tracked)  # still one run in the experiment
    assert run.info.run_id == before["run_id"] and run.info.status == "FINISHED"
    assert steps_of(client, run.info.run_id, "val/loss") == [5, 10, 15]
    # MLflow never changes a param: the new limit is a tag beside it.
    assert run.data.params["trainer.max_epochs"] == "2" and run.data.tags["resumed.trainer.max_epochs"] == "3"
    # An offline W&B run cannot be continued: the resumed part is a second one in the run dir.
    assert len(list((tracked / "run").glob("wandb/offline-run-*"))) == 2


def test_a_list_of_loggers_and_many_are_accepted_and_typos_named():
    source = ConfigSource()
    assert set(check(source, ["logger=many"]).cfg.logger) == {"tensorboard", "csv"}
    assert set(check(source, ["logger=[tensorboard,mlflow]"]).cfg.logger) == {"tensorboard", "mlflow"}
    with pytest.raises(ConfigError, match="Unknown logger option 'mlfow'.*Did you mean mlflow"):
        check(source, ["logger=[tensorboard,mlfow]"])
    # A run dir that is not this user's may still build them (resume, eval): conf/ names them.
    assert is_allowed("dlrun.trackers.mlflow_run.MLflowRunLogger")
    assert is_allowed("dlrun.trackers.wandb_run.WandbRunLogger")


def test_logger_without_its_extra_is_a_clear_error(tmp_path):
    hide = tmp_path / "hide"
    hide.mkdir()
    # This dir's sitecustomize is the one Python imports: it blocks the network as the tests' own
    # does, and makes `mlflow` unimportable as if the extra were not installed.
    (hide / "sitecustomize.py").write_text(
        textwrap.dedent(f"""
        import runpy, sys
        runpy.run_path({str(NO_NETWORK / "sitecustomize.py")!r})
        sys.modules["mlflow"] = None
        """)
    )
    done = run_cli(tmp_path, "train", "logger=[tensorboard,mlflow]", "debug=fast", PYTHONPATH=str(hide))
    assert_user_error(done, "logger=mlflow needs the trackers extra: pip install -e '.[trackers]'")
    assert not (tmp_path / "outputs").exists()  # refused before any run dir was made


def children() -> set[int]:
    """The processes this one started that are still there (W&B's service is one)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


@pytest.mark.slow  # W&B's service and a fresh MLflow store: several seconds
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_sinks_write_each_kind_to_the_loggers_that_take_it(tmp_path, store):
    import wandb
    from matplotlib.figure import Figure
    from pytorch_lightning.loggers import CSVLogger

    from dlrun.callbacks.diagnostics.histograms import histogram_parts
    from dlrun.trackers.wandb_run import WandbRunLogger

    started_with = children()
    csv = CSVLogger(tmp_path, name="csv")
    mlflow_logger = MLflowRunLogger(tmp_path / "run", "sinks", "a=1", store, str(tmp_path / "artifacts"))
    wandb_logger = WandbRunLogger("a=1", save_dir=tmp_path / "run")
    loggers = [csv, mlflow_logger, wandb_logger]
    assert Sinks.of([csv]) == () and len(Sinks.of(loggers)) == 2
    figure = Figure()
    figure.add_subplot().plot([0, 1])
    import torch

    with closing_trackers(loggers):
        sinks = Sinks.of(loggers)
        sinks.figure("val/curve", figure, 7)
        sinks.text("val/samples", "| a | b |", 7)
        sinks.histogram("weights/w", histogram_parts([torch.arange(10.0)]), 7)
        sinks.summary({"optimizer.lr": 0.1, "model.long": "long " * 1400}, {"test/acc": 0.5, "best/val/loss": 0.25}, 9)
    client, run_id = mlflow_logger.experiment, mlflow_logger.run_id
    assert {a.path for a in client.list_artifacts(run_id, "val/curve")} == {"val/curve/step_000007.png"}
    assert {a.path for a in client.list_artifacts(run_id, "val/samples")} == {"val/samples/step_000007.md"}
    assert client.list_artifacts(run_id, "weights") == []  # MLflow takes no histograms
    params = client.get_run(run_id).data.params
    assert params["optimizer.lr"] == "0.1" and len(params["model.long"]) == MLFLOW_LONGEST_PARAM
    assert params["model.long"].endswith("…")
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "best/val/loss")] == [(9, 0.25)]
    assert wandb.run is None  # finished by closing_trackers
    wandb.teardown()  # the service this process started (a CLI run's ends with its process)
    assert children() <= started_with
    run = wandb_run(tmp_path / "run")
    assert run["config"]["optimizer.lr"] == 0.1 and run["summary"]["test/acc"] == 0.5
    types = {key: value for row in run["history"] for key, value in row.items() if key.endswith("/_type")}
    assert types == {
        "val/curve/_type": "images/separated",
        "val/samples/_type": "table-file",
        "weights/w/_type": "histogram",
    }


@pytest.mark.slow
def test_mlflow_run_dir_goes_on_in_its_run_or_a_new_one(tmp_path, store):
    first = MLflowRunLogger(tmp_path / "run", "again", "a=1", store)
    first.log_metrics({"x": 1.0}, step=1)
    first.finalize("success")
    again = MLflowRunLogger(tmp_path / "run", "again", "a=1,trainer.max_epochs=3", store)
    assert again.run_id == first.run_id
    assert again.experiment.get_run(again.run_id).info.status == "RUNNING"
    # A record of a run the store does not have (the store was replaced): a new run, recorded anew.
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / RECORD).write_text(json.dumps({"tracking_uri": again._tracking_uri, "run_id": "0" * 32}))
    other = MLflowRunLogger(tmp_path / "other", "again", "", store)
    assert other.run_id not in (None, first.run_id)
    assert other.experiment.get_run(other.run_id).info.run_name == "defaults"
    assert json.loads((tmp_path / "other" / RECORD).read_text())["run_id"] == other.run_id
