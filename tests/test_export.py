"""`dlrun export RUN_DIR --format onnx|torchscript|safetensors`: the exported files compute what the
run's network computes, through the CLI; ONNX and TorchScript take raw inputs and answer as
`dlrun predict` does, checked in processes that never import dlrun."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import assert_user_error, copy_run, malicious_checkpoint, rebuilt, run_cli, trained


def exported(run: Path, *args: str, cwd: Path | None = None) -> Path:
    done = run_cli(cwd or run.parent, "export", str(run), *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


FILES = {"onnx": "model.onnx", "torchscript": "model.pt", "safetensors": "model.safetensors"}


def description(directory: Path, fmt: str = "onnx") -> dict:
    """The format's own description beside its file (model.onnx.json, ...)."""
    return json.loads((directory / f"{FILES[fmt]}.json").read_text())


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


# -- raw inputs: the exported graph answers as dlrun predict does --------------------------------

# Run with no dlrun: the raw rows' CSV and dlrun predict's CSV in, for each exported file the largest
# difference from predict's probabilities and whether the predicted class names are predict's.
SERVE_WITHOUT_DLRUN = """
import json, sys
import numpy as np, onnxruntime, pandas as pd, torch
raw, predicted, directory = pd.read_csv(sys.argv[1]), pd.read_csv(sys.argv[2]), sys.argv[3]
session = onnxruntime.InferenceSession(directory + "/model.onnx", providers=["CPUExecutionProvider"])
meta = session.get_modelmeta().custom_metadata_map
classes = json.loads(meta["class_names"])
rows = raw[json.loads(meta["inputs"])[0]["columns"]].to_numpy()
expected = predicted[["prob_" + str(c) for c in classes]].to_numpy()
report = {"meta": sorted(meta), "outputs": [o.name for o in session.get_outputs()]}
found = {"onnx": session.run(["probabilities"], {"inputs": rows})[0],
         "onnx_one_row": session.run(["probabilities"], {"inputs": rows[:1]})[0]}
if len(sys.argv) > 4:
    extra = {"dlrun.json": ""}
    module = torch.jit.load(directory + "/model.pt", _extra_files=extra)
    with torch.no_grad():
        found["torchscript"] = module(torch.from_numpy(rows))[1].numpy()
    report["torchscript_description"] = json.loads(extra["dlrun.json"])["preprocessing"]
for name, probabilities in found.items():
    report[name] = [float(np.abs(probabilities - expected[: len(probabilities)]).max()),
                    [classes[i] for i in probabilities.argmax(1)] == predicted["prediction"].astype(str).tolist()[: len(probabilities)]]
report["dlrun_imported"] = any(m == "dlrun" or m.startswith("dlrun.") for m in sys.modules)
print(json.dumps(report))
"""


def raw_rows(run: Path, path: Path) -> Path:
    """Rows of the run's scikit-learn data set as a user has them: its own columns, raw values."""
    import pandas as pd
    from sklearn.datasets import load_digits, load_iris

    saved = json.loads((run / "preprocessing.json").read_text())
    bunch = load_iris() if saved["name"] == "iris" else load_digits()
    pd.DataFrame(bunch.data[::7][:25], columns=saved["features"]).to_csv(path, index=False)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("name", ["iris", "cnn"])
def test_exports_take_raw_features_and_answer_as_predict_does(tmp_path_factory, tmp_path, name):
    pytest.importorskip("onnxruntime")
    import onnx

    run = trained(tmp_path_factory, name)
    out = tmp_path / "out"
    done = exported(run, "--format", "onnx", "--output", str(out))
    assert "max abs diff from torch" in done.stdout and "applies the run's preprocessing" in done.stdout
    formats = ["onnx"] + (["torchscript"] if name == "iris" else [])  # TorchScript once is enough
    if "torchscript" in formats:  # a second format lands beside the first
        exported(run, "--format", "torchscript", "--output", str(out))
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["preprocessing.json", "model.onnx", "model.onnx.json"]
        + (["model.pt", "model.pt.json"] if name == "iris" else [])
    )
    info = description(out)
    features = json.loads((run / "preprocessing.json").read_text())["features"]
    assert info["inputs"] == [
        dict(info["inputs"][0], name="inputs", shape=["batch", len(features)], dtype="float64", columns=features)
    ]
    assert info["preprocessing"]["in_graph"] and "standardized" in info["preprocessing"]["steps"][0]
    assert [o["name"] for o in info["outputs"]] == ["outputs", "probabilities"] and info["task"] == "multiclass"
    assert len(info["class_names"]) == info["num_outputs"] == (3 if name == "iris" else 10)
    assert info["max_abs_diff"] <= 1e-4 and info["weights_file"] == "checkpoints/weights.safetensors"
    props = {p.key: p.value for p in onnx.load(str(out / "model.onnx")).metadata_props}
    assert json.loads(props["class_names"]) == info["class_names"] and props["dlrun_version"] == info["dlrun_version"]
    assert props["run_dir"] == str(run) and json.loads(props["preprocessing"]) == info["preprocessing"]
    assert json.loads(props["dlrun"])["inputs"] == info["inputs"]

    rows = raw_rows(run, tmp_path / "rows.csv")
    assert run_cli(tmp_path, "predict", run, rows, "--output", "predicted.csv").returncode == 0
    served = subprocess.run(
        [sys.executable, "-c", SERVE_WITHOUT_DLRUN, rows, tmp_path / "predicted.csv", out, *formats[1:]],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert served.returncode == 0, served.stderr
    report = json.loads(served.stdout)
    assert not report["dlrun_imported"] and report["outputs"] == ["outputs", "probabilities"]
    assert {"class_names", "preprocessing", "dlrun_version", "run_dir", "inputs"} <= set(report["meta"])
    for fmt in ("onnx", "onnx_one_row", *formats[1:]):  # the batch axis is dynamic
        difference, same_classes = report[fmt]
        assert difference < 1e-5 and same_classes, (fmt, report)
    if "torchscript" in formats:
        assert report["torchscript_description"] == description(out, "torchscript")["preprocessing"]


def test_table_preprocessing_with_gaps_and_categories_is_one_module_for_predict_and_export():
    """data=csv's encoding as TableInputs computes it (the module predict calls and export puts in
    the graph): means fill the gaps, numeric columns scaled, categories one-hot; `invert` gives rows back."""
    from dlrun.predict.modules import TableInputs

    saved = {
        "numeric": ["a", "b"],
        "categorical": ["c"],
        "missing": "mean",
        "numeric_means": {"a": 1.0, "b": -2.0},
        "scaler": {"kind": "standard", "mean": [1.0, -2.0], "scale": [2.0, 4.0]},
        "categorical_encoding": "one_hot",
        "categories": {"c": ["x", "y", "z"]},
    }
    module = TableInputs(saved, (5,))
    raw = torch.tensor([[3.0, float("nan"), 2.0], [float("nan"), 6.0, 0.0]], dtype=torch.float64)
    expected = torch.tensor([[1.0, 0.0, 0, 0, 1], [0.0, 2.0, 1, 0, 0]])
    assert module.columns == ["a", "b", "c"] and torch.equal(module(raw), expected)
    filled = torch.tensor([[3.0, -2.0, 2.0], [1.0, 6.0, 0.0]], dtype=torch.float64)
    assert torch.equal(module.invert(module(raw)), filled)


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
    # Tokenizing is no tensor op: the graph takes token ids, and the description says so.
    assert not info["preprocessing"]["in_graph"] and "tokenized" in info["preprocessing"]["outside_graph"]
    assert [o["name"] for o in info["outputs"]] == ["outputs", "probabilities"]
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
    extra = {"dlrun.json": ""}
    network = torch.jit.load(str(tmp_path / "ts" / "model.pt"), _extra_files=extra)
    batches, model = split_batches(run)
    for batch in batches:  # other sizes and lengths than the traced example
        outputs, probabilities = network(batch["inputs"], batch["lengths"])
        assert (outputs - torch_outputs(model, batch)).abs().max() < 1e-5
        assert torch.allclose(
            probabilities, torch.stack([1 - outputs[:, 0].sigmoid(), outputs[:, 0].sigmoid()], 1).double()
        )
    info = description(tmp_path / "ts", "torchscript")
    assert info["format"] == "torchscript" and info["file"] == "model.pt" and info["max_abs_diff"] <= 1e-5
    assert json.loads(extra["dlrun.json"]) == info


@pytest.mark.slow
def test_safetensors_round_trips_the_weights(tmp_path_factory, tmp_path):
    from safetensors.torch import load_file

    run = copy_run(trained(tmp_path_factory, "cnn"), tmp_path / "run")
    done = exported(run, "--format", "safetensors")
    assert "model.safetensors" in done.stdout and (run / "export").is_dir()
    written = load_file(str(run / "export" / "model.safetensors"))
    original = load_file(str(run / "checkpoints" / "weights.safetensors"))
    assert written.keys() == original.keys() and all(torch.equal(written[k], original[k]) for k in original)
    info = description(run / "export", "safetensors")
    assert info["model_config"]["_target_"] == "dlrun.models.cnn.CNN" and info["data_spec"]["input_shape"] == [1, 8, 8]


# -- refusals ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_formats_sit_side_by_side_and_a_format_is_never_exported_over(dlrun, tmp_path_factory, tmp_path):
    run = copy_run(trained(tmp_path_factory, "iris"), tmp_path / "run")
    assert dlrun("export", "run", "--format", "safetensors").returncode == 0
    assert dlrun("export", "run", "--format", "torchscript").returncode == 0
    before = {p.name: p.read_bytes() for p in (run / "export").iterdir()}
    assert sorted(before) == sorted(
        ["model.safetensors", "model.safetensors.json", "model.pt", "model.pt.json", "preprocessing.json"]
    )
    for fmt, files in (("safetensors", "model.safetensors, model.safetensors.json"), ("torchscript", "model.pt")):
        assert_user_error(
            dlrun("export", "run", "--format", fmt), f"already holds {files}", "move or delete", "--output DIR"
        )
    assert {p.name: p.read_bytes() for p in (run / "export").iterdir()} == before
    # Another run's preprocessing file in the dir is no file this export may sit beside.
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "preprocessing.json").write_text("{}\n")
    assert_user_error(dlrun("export", "run", "--format", "safetensors", "--output", "other"), "not this run's")
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["preprocessing.json"]


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
    info = description(tmp_path / "out", "safetensors")
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
