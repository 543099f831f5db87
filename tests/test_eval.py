"""`dlrun eval RUN_DIR [OVERRIDES...]`: a finished run's weights tested again, through the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from helpers import RUNS, assert_user_error, copy_run, malicious_checkpoint, rebuilt, run_cli, trained, write_table


def eval_files(run: Path) -> list[Path]:
    return sorted(run.glob("eval-*.json"))


def only_new_eval(run: Path, before: list[Path]) -> dict:
    new = [p for p in eval_files(run) if p not in before]
    assert len(new) == 1, new
    return json.loads(new[0].read_text())


def results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())


def classification_metrics(logits: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """Accuracy and mean cross-entropy, by hand."""
    log_p = logits.double().log_softmax(dim=1)
    loss = -log_p[torch.arange(len(targets)), targets].mean()
    return {"test/acc": float((logits.argmax(1) == targets).double().mean()), "test/loss": float(loss)}


# -- the run's own test, again -------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["iris", "cnn"])
def test_eval_gives_the_runs_own_test_metrics(tmp_path_factory, name):
    run = trained(tmp_path_factory, name)
    before = eval_files(run)
    done = run_cli(run.parent, "eval", run.name)
    assert done.returncode == 0, done.stdout + done.stderr
    record = only_new_eval(run, before)
    expected = results(run)["test_metrics"]
    assert set(record["metrics"]) == set(expected) and "test/acc" in expected
    for key, value in expected.items():
        assert record["metrics"][key] == pytest.approx(value, abs=1e-5), key
        assert key in done.stdout and f"{record['metrics'][key]:.4f}" in done.stdout  # the table shows them
    assert record["weights"] == "best" and record["weights_file"] == "checkpoints/weights.safetensors"
    assert record["overrides"] == [] and record["run_overrides"] == list(RUNS[name])
    assert record["evaluated_at"] and record["dlrun_version"]
    assert Path(done.stdout.split("written: ")[1].split()[0]).name in {p.name for p in eval_files(run)}


@pytest.mark.slow
def test_weights_last_tests_the_last_checkpoint(tmp_path_factory, tmp_path):
    # A run whose last weights surely differ from its best: last.ckpt replaced by a checkpoint of the
    # same network with other (plain tensor) weights, as a later epoch would have left.
    run = copy_run(trained(tmp_path_factory, "iris"), tmp_path / "run")
    _, model = rebuilt(run, "best.ckpt")
    generator = torch.Generator().manual_seed(0)
    later = {k: v + 0.3 * torch.randn(v.shape, generator=generator) for k, v in model.state_dict().items()}
    torch.save(
        {"state_dict": {f"model.{k}": v for k, v in later.items()}, "epoch": 7}, run / "checkpoints" / "last.ckpt"
    )
    done = run_cli(tmp_path, "eval", "run", "--weights", "last")
    assert done.returncode == 0, done.stdout + done.stderr
    record = only_new_eval(run, [])
    assert record["weights"] == "last" and record["weights_file"] == "checkpoints/last.ckpt"
    assert "last weights (checkpoints/last.ckpt)" in done.stdout
    test, model = rebuilt(run, "last.ckpt")
    with torch.no_grad():
        ours = classification_metrics(model(test["inputs"]), test["targets"])
    for key, value in ours.items():
        assert record["metrics"][key] == pytest.approx(value, abs=1e-5), key
    best = results(run)["test_metrics"]["test/loss"]
    assert abs(record["metrics"]["test/loss"] - best) > 1e-3, "the last weights were not the ones tested"

    # The same weights named as a file outside the run dir: the same numbers.
    shutil.copyfile(run / "checkpoints" / "last.ckpt", tmp_path / "later.ckpt")
    before = eval_files(run)
    done = run_cli(tmp_path, "eval", "run", "--weights", "later.ckpt")
    assert done.returncode == 0, done.stdout + done.stderr
    by_file = only_new_eval(run, before)
    assert by_file["weights"] == "later.ckpt" and by_file["metrics"] == pytest.approx(record["metrics"], abs=1e-6)


@pytest.mark.slow
def test_a_data_override_tests_on_that_data(tmp_path_factory, tmp_path):
    """data.path=b.csv: the numbers are those of the exported network on b.csv's test split, computed here."""
    run = trained(tmp_path_factory, "csv")
    write_table(run.parent / "b.csv", seed=1)
    before = eval_files(run)
    done = run_cli(run.parent, "eval", run.name, "data.path=b.csv", "data.eval_batch_size=32")
    assert done.returncode == 0, done.stdout + done.stderr
    record = only_new_eval(run, before)
    assert record["overrides"] == ["data.path=b.csv", "data.eval_batch_size=32"]

    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    exported = run_cli(run.parent, "export", run.name, "--format", "torchscript", "--output", str(tmp_path / "ts"))
    assert exported.returncode == 0, exported.stdout + exported.stderr
    # The exported graph takes raw features; its `network` is the trained network on prepared ones.
    network = torch.jit.load(str(tmp_path / "ts" / "model.pt")).network
    data = OmegaConf.load(run / ".hydra" / "config.yaml").data
    data.path = str(run.parent / "b.csv")
    test = instantiate(data).split("test")
    with torch.no_grad():
        ours = classification_metrics(network(test["inputs"]), test["targets"])
    for key, value in ours.items():
        assert record["metrics"][key] == pytest.approx(value, abs=1e-5), key
    assert record["metrics"]["test/loss"] != pytest.approx(results(run)["test_metrics"]["test/loss"], abs=1e-6)


@pytest.mark.slow
def test_a_relative_data_path_is_found_from_another_directory(tmp_path_factory, tmp_path):
    run = trained(tmp_path_factory, "csv")
    before = eval_files(run)
    done = run_cli(tmp_path, "eval", str(run))  # a.csv sits next to the run, not in tmp_path
    assert done.returncode == 0, done.stdout + done.stderr
    record = only_new_eval(run, before)
    for key, value in results(run)["test_metrics"].items():
        assert record["metrics"][key] == pytest.approx(value, abs=1e-5), key
    assert any("a.csv" in note for note in record["notes"]), record["notes"]


@pytest.mark.slow
def test_a_second_eval_writes_a_second_file_and_leaves_the_first(tmp_path_factory, tmp_path):
    run = copy_run(trained(tmp_path_factory, "iris"), tmp_path / "run")
    listing = sorted(p.relative_to(run) for p in run.rglob("*"))
    assert run_cli(tmp_path, "eval", "run").returncode == 0
    (first,) = eval_files(run)
    first_text = first.read_text()
    done = run_cli(tmp_path, "eval", "run", "data.eval_batch_size=12")
    assert done.returncode == 0, done.stdout + done.stderr
    files = eval_files(run)
    assert len(files) == 2 and first in files and first.read_text() == first_text
    second = json.loads(next(p for p in files if p != first).read_text())
    assert second["overrides"] == ["data.eval_batch_size=12"]
    # Two batches of 12 (debug=fast tests two batches) cover the 23 test rows: the same metrics.
    assert second["metrics"] == pytest.approx(json.loads(first_text)["metrics"], abs=1e-5)
    assert sorted(p.relative_to(run) for p in run.rglob("*") if not p.name.startswith("eval-")) == listing


def test_a_taken_name_gets_a_suffix_and_the_earlier_file_stays(tmp_path):
    from dlrun.commands.eval import Evaluation, write_evaluation

    made = [
        Evaluation(
            str(tmp_path),
            "best",
            "w",
            [],
            [],
            None,
            metrics={"test/acc": float(i)},
            evaluated_at="2026-12-02T10:00:00+00:00",
        )
        for i in range(3)
    ]
    paths = [write_evaluation(e) for e in made]
    assert [p.name for p in paths] == [
        "eval-20261202-100000.json",
        "eval-20261202-100000-2.json",
        "eval-20261202-100000-3.json",
    ]
    assert [json.loads(p.read_text())["metrics"]["test/acc"] for p in paths] == [0.0, 1.0, 2.0]


# -- composing the config ------------------------------------------------------------------------


def test_new_overrides_replace_the_runs_own_and_a_new_group_option_drops_its_keys():
    from dlrun.commands.eval import merge_overrides

    groups = {"data", "model"}
    original = ["data=csv", "data.path=a.csv", "data.target=y", "model.hidden_sizes=[16]", "seed=1"]
    assert merge_overrides(original, ["data.path=b.csv"], groups) == [
        "data=csv",
        "data.target=y",
        "model.hidden_sizes=[16]",
        "seed=1",
        "data.path=b.csv",
    ]
    assert merge_overrides(original, ["data=csv", "data.path=b.csv"], groups) == [
        "data.target=y",
        "model.hidden_sizes=[16]",
        "seed=1",
        "data=csv",
        "data.path=b.csv",
    ]
    assert merge_overrides(original, ["data=iris"], groups) == ["model.hidden_sizes=[16]", "seed=1", "data=iris"]


def test_values_the_packaged_configs_changed_since_training_are_kept_as_recorded():
    from omegaconf import OmegaConf

    from dlrun.commands.eval import restore_drift

    recorded = OmegaConf.create({"model": {"width": 8, "depth": 2}, "data": {"batch_size": 64}})
    before = OmegaConf.create({"model": {"width": 16, "depth": 2}, "data": {"batch_size": 64}})  # today's default
    cfg = OmegaConf.create({"model": {"width": 16, "depth": 2}, "data": {"batch_size": 8}})  # + data.batch_size=8
    notes = restore_drift(recorded, before, cfg)
    assert cfg.model.width == 8 and cfg.data.batch_size == 8 and "model.width=8" in notes[0]
    overridden = OmegaConf.create({"model": {"width": 32, "depth": 2}, "data": {"batch_size": 64}})  # model.width=32
    assert restore_drift(recorded, before, overridden) == [] and overridden.model.width == 32


@pytest.mark.slow
def test_the_config_dir_the_run_was_trained_with_is_used_again(dlrun, tmp_path):
    (tmp_path / "my_conf" / "model").mkdir(parents=True)
    (tmp_path / "my_conf" / "model" / "tiny.yaml").write_text("# tiny\n_target_: dlrun.models.MLP\nhidden_sizes: [8]\n")
    trained_run = dlrun(
        "train", "--config-dir", "my_conf", "model=tiny", "debug=fast", "logger=none", "hydra.run.dir=tiny"
    )
    assert trained_run.returncode == 0, trained_run.stderr
    done = dlrun("eval", "tiny")
    assert done.returncode == 0, done.stdout + done.stderr
    (record,) = [json.loads(p.read_text()) for p in eval_files(tmp_path / "tiny")]
    assert Path(record["config_dir"]) == (tmp_path / "my_conf").resolve()
    assert record["metrics"]["test/acc"] == pytest.approx(
        results(tmp_path / "tiny")["test_metrics"]["test/acc"], abs=1e-6
    )
    (tmp_path / "my_conf").rename(tmp_path / "moved_conf")
    assert_user_error(dlrun("eval", "tiny"), "--config-dir", "which is gone", "--config-dir DIR")


# -- refusals ------------------------------------------------------------------------------------


def test_eval_refuses_what_is_not_a_run(dlrun, tmp_path):
    assert_user_error(dlrun("eval", "missing"), "does not exist")
    (tmp_path / "plain").mkdir()
    assert_user_error(dlrun("eval", "plain"), "is not a dlrun run dir")
    (tmp_path / "a_file").write_text("x")
    assert_user_error(dlrun("eval", "a_file"), "not a run dir")
    # A run dir without weights (its config, nothing else); nothing is written into it.
    (tmp_path / "no_weights" / ".hydra").mkdir(parents=True)
    (tmp_path / "no_weights" / ".hydra" / "config.yaml").write_text("seed: 0\n")
    (tmp_path / "no_weights" / ".hydra" / "overrides.yaml").write_text("[]\n")
    assert_user_error(dlrun("eval", "no_weights"), "has no best weights")
    assert_user_error(dlrun("eval", "no_weights", "--weights", "last"), "has no last weights")
    assert_user_error(dlrun("eval", "no_weights", "--weights", "newest"), "Unknown --weights 'newest'", "best, last")
    assert not list((tmp_path / "no_weights").glob("eval-*"))


@pytest.mark.slow
def test_eval_refuses_overrides_the_run_cannot_take(dlrun, tmp_path_factory, tmp_path):
    run = copy_run(trained(tmp_path_factory, "iris"), tmp_path / "run")
    assert_user_error(
        dlrun("eval", "run", "model.hidden_sizez=[3]"), "Unknown key 'model.hidden_sizez'", "model.hidden_sizes"
    )
    assert_user_error(dlrun("eval", "run", "model.hidden_sizes=[3]"), "do not fit the model")
    assert not list(run.glob("eval-*"))


@pytest.mark.slow
def test_a_checkpoint_with_a_pickled_payload_is_refused_and_never_runs(dlrun, tmp_path_factory, tmp_path):
    marker = tmp_path / "payload-ran"
    run = copy_run(trained(tmp_path_factory, "iris"), tmp_path / "run")
    malicious_checkpoint(run / "checkpoints" / "last.ckpt", marker)
    assert_user_error(dlrun("eval", "run", "--weights", "last"), "Refusing to load", "pickled Python objects")
    # Without the safetensors file, best.ckpt is the best weights.
    (run / "checkpoints" / "weights.safetensors").unlink()
    malicious_checkpoint(run / "checkpoints" / "best.ckpt", marker)
    assert_user_error(dlrun("eval", "run"), "Refusing to load")
    assert not marker.exists(), "the checkpoint's payload ran"
    assert not list(run.glob("eval-*"))
