"""`dlrun export RUN_DIR --format onnx|torchscript|safetensors`: the exported files compute what the
run's network computes, through the CLI."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import pytest
import torch
from helpers import assert_user_error, copy_run, malicious_checkpoint, rebuilt, run_cli, trained


def exported(run: Path, *args: str, cwd: Path | None = None) -> Path:
    done = run_cli(cwd or run.parent, "export", str(run), *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def description(directory: Path) -> dict:
    return json.loads((directory / "model.json").read_text())


def split_batches(run: Path):
    """The run's test split in two batches of different sizes (each cut to its own longest
    sequence), and its network with the best weights, rebuilt here."""
    from dlrun.data.padding import trim_to_longest

    test, model = rebuilt(run, "weights.safetensors")
    n = len(test["inputs"])
    cut = max(1, n // 3)
    batches = [trim_to_longest({k: v[a:b] for k, v in test.items()}) for a, b in ((0, cut), (cut, n))]
    return batches, model


def torch_outputs(model, batch) -> torch.Tensor:
    with torch.no_grad():
        if "lengths" in batch:
            return model(batch["inputs"], lengths=batch["lengths"])
        return model(batch["inputs"])


def onnx_outputs(session, batch) -> torch.Tensor:
    feeds = {i.name: batch[i.name].numpy() for i in session.get_inputs()}
    return torch.from_numpy(session.run(["outputs"], feeds)[0])


# -- ONNX ------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["iris", "cnn"])
def test_onnx_computes_what_the_network_computes_on_the_test_split(tmp_path_factory, tmp_path, name):
    ort = pytest.importorskip("onnxruntime")
    run = trained(tmp_path_factory, name)
    done = exported(run, "--format", "onnx", "--output", str(tmp_path / "onnx"))
    assert sorted(p.name for p in (tmp_path / "onnx").iterdir()) == sorted(
        ["model.onnx", "model.json"] + (["preprocessing.json"] if (run / "preprocessing.json").exists() else [])
    )
    assert "max abs diff from torch" in done.stdout
    info = description(tmp_path / "onnx")
    batches, model = split_batches(run)
    spec_shape = list(batches[0]["inputs"].shape[1:])
    assert info["inputs"] == [dict(info["inputs"][0], name="inputs", shape=["batch", *spec_shape], dtype="float32")]
    assert info["outputs"][0]["shape"] == ["batch", info["num_outputs"]] and info["task"] == "multiclass"
    assert len(info["class_names"]) == info["num_outputs"] == (3 if name == "iris" else 10)
    assert (
        info["dlrun_version"]
        and info["max_abs_diff"] <= 1e-4
        and info["weights_file"] == "checkpoints/weights.safetensors"
    )
    session = ort.InferenceSession(str(tmp_path / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"])
    for batch in batches + [{k: v[:1] for k, v in batches[0].items()}]:  # the batch axis is dynamic
        assert (onnx_outputs(session, batch) - torch_outputs(model, batch)).abs().max() < 1e-4


@pytest.mark.slow
def test_a_bidirectional_lstm_on_text_exports_with_its_lengths(tmp_path_factory, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    run = trained(tmp_path_factory, "text")
    exported(run, "--format", "onnx", "--output", str(tmp_path / "onnx"))
    info = description(tmp_path / "onnx")
    assert [(i["name"], i["shape"], i["dtype"]) for i in info["inputs"]] == [
        ("inputs", ["batch", "steps"], "int64"),
        ("lengths", ["batch"], "int64"),
    ]
    assert info["vocabulary"]["files"] == ["vocab.json"] and info["task"] == "binary"
    assert (tmp_path / "onnx" / "vocab.json").read_bytes() == (run / "vocab.json").read_bytes()
    assert any("without packing" in note for note in info["notes"])
    session = ort.InferenceSession(str(tmp_path / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"])
    batches, model = split_batches(run)
    pad = info["vocabulary"]["pad_id"]
    for batch in batches:
        expected = torch_outputs(model, batch)
        assert (onnx_outputs(session, batch) - expected).abs().max() < 1e-4
        # More padding (any steps after each length) changes nothing.
        padded = dict(batch, inputs=torch.nn.functional.pad(batch["inputs"], (0, 5), value=pad))
        assert (onnx_outputs(session, padded) - expected).abs().max() < 1e-4


def test_the_unpacked_recurrent_net_equals_the_packed_one():
    from dlrun.export.unpacked_recurrent import UnpackedRecurrent
    from dlrun.models.recurrent import RecurrentNet

    torch.manual_seed(0)
    for cell, bidirectional, read_out, layers in itertools.product(
        ["lstm", "gru", "rnn"], [False, True], ["last", "mean", "max", "attention"], [1, 2]
    ):
        net = RecurrentNet(
            (12,),
            3,
            cell=cell,
            hidden_size=6,
            num_layers=layers,
            bidirectional=bidirectional,
            read_out=read_out,
            vocab_size=20,
            embedding_size=4,
        ).eval()
        tokens = torch.randint(1, 20, (9, 12))  # whatever follows each length must not matter
        lengths = torch.tensor([12, 1, 5, 7, 3, 12, 2, 9, 4])
        with torch.no_grad():
            difference = (net(tokens, lengths=lengths) - UnpackedRecurrent(net).eval()(tokens, lengths)).abs().max()
        assert difference < 1e-5, (cell, bidirectional, read_out, layers)
    series = RecurrentNet((10, 2), 2, cell="gru", hidden_size=5, predict_change=True).eval()
    x, lengths = torch.randn(4, 10, 2), torch.tensor([10, 3, 6, 1])
    with torch.no_grad():
        assert (series(x, lengths=lengths) - UnpackedRecurrent(series)(x, lengths)).abs().max() < 1e-5


@pytest.mark.slow
def test_without_onnxruntime_the_check_is_said_to_be_skipped(tmp_path_factory, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from dlrun.cli import app

    run = trained(tmp_path_factory, "iris")
    # In process, with `import onnxruntime` failing as it does where the package is absent: a stand-in
    # package on PYTHONPATH would also break torchmetrics, which imports onnxruntime next to librosa
    # whenever the installed distributions say both are there.
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    done = CliRunner().invoke(app, ["export", str(run), "--format", "onnx", "--output", str(tmp_path / "out")])
    assert done.exit_code == 0, (done.output, done.exception)
    assert "not checked: onnxruntime is not installed" in done.stdout
    assert (
        description(tmp_path / "out")["check"].startswith("not checked") and (tmp_path / "out" / "model.onnx").is_file()
    )


# -- TorchScript and safetensors ----------------------------------------------------------------


@pytest.mark.slow
def test_torchscript_loads_with_torch_jit_load_and_matches(tmp_path_factory, tmp_path):
    run = trained(tmp_path_factory, "text")
    exported(run, "--format", "torchscript", "--output", str(tmp_path / "ts"))
    network = torch.jit.load(str(tmp_path / "ts" / "model.pt"))
    batches, model = split_batches(run)
    for batch in batches:  # other sizes and lengths than the traced example
        assert (network(batch["inputs"], batch["lengths"]) - torch_outputs(model, batch)).abs().max() < 1e-5
    info = description(tmp_path / "ts")
    assert info["format"] == "torchscript" and info["file"] == "model.pt" and info["max_abs_diff"] <= 1e-5


@pytest.mark.slow
def test_safetensors_round_trips_the_weights(tmp_path_factory, tmp_path):
    from safetensors.torch import load_file

    run = copy_run(trained(tmp_path_factory, "cnn"), tmp_path / "run")
    done = exported(run, "--format", "safetensors")
    assert "model.safetensors" in done.stdout and (run / "export").is_dir()
    written = load_file(str(run / "export" / "model.safetensors"))
    original = load_file(str(run / "checkpoints" / "weights.safetensors"))
    assert written.keys() == original.keys() and all(torch.equal(written[k], original[k]) for k in original)
    info = description(run / "export")
    assert info["model_config"]["_target_"] == "dlrun.models.cnn.CNN" and info["data_spec"]["input_shape"] == [1, 8, 8]


# -- refusals ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_an_export_never_overwrites_and_a_new_output_dir_is_taken(dlrun, tmp_path_factory, tmp_path):
    run = copy_run(trained(tmp_path_factory, "iris"), tmp_path / "run")
    assert dlrun("export", "run", "--format", "safetensors").returncode == 0
    before = {p.name: p.read_bytes() for p in (run / "export").iterdir()}
    assert_user_error(
        dlrun("export", "run", "--format", "safetensors"), "already holds model.safetensors, model.json", "--output"
    )
    assert_user_error(dlrun("export", "run", "--format", "torchscript"), "already holds model.json")
    assert {p.name: p.read_bytes() for p in (run / "export").iterdir()} == before
    assert dlrun("export", "run", "--format", "torchscript", "--output", "elsewhere").returncode == 0
    assert (tmp_path / "elsewhere" / "model.pt").is_file()
    assert_user_error(dlrun("export", "run", "--format", "torchscript", "--output", "elsewhere"), "another --output")


def test_export_refuses_bad_requests(dlrun, tmp_path):
    assert_user_error(dlrun("export", "missing", "--format", "onnx"), "does not exist")
    (tmp_path / "plain").mkdir()
    assert_user_error(dlrun("export", "plain", "--format", "onnx"), "is not a dlrun run dir")
    (tmp_path / "run" / ".hydra").mkdir(parents=True)
    (tmp_path / "run" / ".hydra" / "config.yaml").write_text("seed: 0\n")
    assert_user_error(
        dlrun("export", "run", "--format", "tflite"), "Unknown --format 'tflite'", "onnx, safetensors, torchscript"
    )
    assert_user_error(dlrun("export", "run", "--format", "onnx", "--weights", "first"), "Unknown --weights 'first'")
    assert_user_error(dlrun("export", "run", "--format", "onnx"), "has no best weights")
    assert not (tmp_path / "run" / "export").exists()


@pytest.mark.slow
def test_a_seq2seq_run_exports_its_weights_and_refuses_a_traced_graph(dlrun, tmp_path_factory, tmp_path):
    run = trained(tmp_path_factory, "reverse")
    for fmt in ("onnx", "torchscript"):
        assert_user_error(
            dlrun("export", str(run), "--format", fmt, "--output", "out"), "Seq2Seq", "--format safetensors"
        )
    assert not (tmp_path / "out").exists()
    assert dlrun("export", str(run), "--format", "safetensors", "--output", "out").returncode == 0
    info = description(tmp_path / "out")
    assert info["task"] == "seq2seq" and info["vocabulary"]["files"] == ["seq2seq_vocab.json"]
    assert (tmp_path / "out" / "seq2seq_vocab.json").is_file() and info["model_config"]["_target_"].endswith("Seq2Seq")


@pytest.mark.slow
def test_a_checkpoint_with_a_pickled_payload_is_refused_and_never_runs(dlrun, tmp_path_factory, tmp_path):
    marker = tmp_path / "payload-ran"
    run = copy_run(trained(tmp_path_factory, "iris"), tmp_path / "run")
    (run / "checkpoints" / "weights.safetensors").unlink()  # so best.ckpt is the best weights
    malicious_checkpoint(run / "checkpoints" / "best.ckpt", marker)
    malicious_checkpoint(run / "checkpoints" / "last.ckpt", marker)
    for args in (("--format", "safetensors"), ("--format", "torchscript", "--weights", "last")):
        assert_user_error(dlrun("export", "run", *args), "Refusing to load", "pickled Python objects")
    assert not marker.exists(), "the checkpoint's payload ran"
    assert not (run / "export").exists()


def test_an_export_whose_outputs_differ_from_torch_is_refused():
    from dlrun.errors import DlrunError
    from dlrun.export.check import TOLERANCE, accept
    from dlrun.export.result import Export

    result = Export("onnx", Path("."))
    accept(result, TOLERANCE / 2, "a check", "ONNX")
    assert result.max_abs_diff == TOLERANCE / 2 and "max abs diff" in result.check
    for difference in (2 * TOLERANCE, float("nan")):
        with pytest.raises(DlrunError, match="differ from torch's"):
            accept(Export("onnx", Path(".")), difference, "a check", "ONNX")
