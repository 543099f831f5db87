"""`dlrun export RUN_DIR --format onnx|torchscript|safetensors`: a finished run's network as a file
to serve elsewhere, with model.json saying what it takes and gives.

The data and the network are rebuilt from the run's own .hydra/config.yaml, the weights come
through the safe loader, and an example batch comes from the run's own test split. Every export is
checked before it is kept: the ONNX graph with onnxruntime (when installed) and the TorchScript
module after loading it back, each against torch's outputs on the whole test split; the safetensors
file by reading it back. Files are written into a scratch dir and moved into place only when all is
well, and never over a file that exists.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from dlrun.commands.run_files import RunDir, WEIGHTS, check_state_fits, load_weights_of, open_run, restore_recorded_paths
from dlrun.errors import DlrunError, unknown_choice

FORMATS = {"onnx": "model.onnx", "torchscript": "model.pt", "safetensors": "model.safetensors"}
DESCRIPTION_FILE = "model.json"
DEFAULT_DIR = "export"
EXAMPLE_ROWS = 8  # the example batch handed to the tracer / exporter
CHECK_BATCH = 1024  # test examples per checked batch
TOLERANCE = 1e-4  # the largest absolute difference from torch's outputs an export may have
EXPORT_EXTRA = "pip install 'dlrun[export]' (onnx, onnxscript, onnxruntime)"


@dataclass
class Export:
    format: str
    directory: Path
    files: list[str] = field(default_factory=list)
    check: str = ""  # what was checked and how far the outputs were from torch's
    max_abs_diff: float | None = None
    notes: list[str] = field(default_factory=list)


def export(run_dir: str | Path, fmt: str, output: str | Path | None = None, weights: str = "best") -> Export:
    if fmt not in FORMATS:
        raise unknown_choice("--format", fmt, FORMATS)
    if weights not in WEIGHTS:
        raise unknown_choice("--weights", weights, WEIGHTS)
    run = open_run(run_dir)
    target = Path(output).expanduser() if output else run.path / DEFAULT_DIR
    names = [FORMATS[fmt], DESCRIPTION_FILE, *(p.name for p in run.preprocessing_files())]
    _refuse_taken(target, names, chosen=output is not None, run=run)
    weights_path, state = load_weights_of(run, weights)  # refuses a pickle before anything else runs
    if fmt == "onnx":
        _require_onnx()
    if fmt != "safetensors" and _is_seq2seq_model(run):
        raise _seq2seq_refusal(fmt, run_dir)

    datamodule, model, cfg = _rebuild(run, state, weights_path)
    spec = datamodule.spec
    test = datamodule.split("test")
    signature = _signature(model, spec, test)
    if spec.task == "seq2seq" and fmt != "safetensors":
        raise _seq2seq_refusal(fmt, run_dir)
    result = Export(fmt, target)
    made = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    try:
        _export_into(run, cfg, spec, model, test, signature, fmt, weights, weights_path, target, names, result)
    except BaseException:
        if made and target.is_dir() and not any(target.iterdir()):
            target.rmdir()  # only the empty dir this call made
        raise
    result.files = names
    return result


def _export_into(run, cfg, spec, model, test, signature, fmt, weights, weights_path, target, names, result) -> None:
    with tempfile.TemporaryDirectory(prefix=".dlrun-export-", dir=target) as scratch:
        scratch = Path(scratch)
        if fmt == "safetensors":
            _write_safetensors(model, scratch / FORMATS[fmt], result)
        else:
            import torch

            batches = _check_batches(test, signature)
            wrapper = _Forward(model, signature["lengths"]).eval()
            with torch.no_grad():
                expected = [wrapper(*batch) for batch in batches]
            example = _example(test, signature)
            if fmt == "onnx":
                _write_onnx(model, wrapper, example, signature, batches, expected, scratch / FORMATS[fmt], result)
            else:
                _write_torchscript(wrapper, example, batches, expected, scratch / FORMATS[fmt], result)
        for path in run.preprocessing_files():
            shutil.copyfile(path, scratch / path.name)
        description = describe(run, cfg, spec, signature, fmt, weights, weights_path, result)
        (scratch / DESCRIPTION_FILE).write_text(json.dumps(description, indent=2, allow_nan=True) + "\n")
        _move_into_place(scratch, target, names, run)


def _seq2seq_refusal(fmt: str, run_dir) -> DlrunError:
    return DlrunError(
        f"A Seq2Seq model cannot be exported as {fmt} honestly: it decodes step by step, each step's input "
        "being the previous step's output, until EOS or a length limit (greedy or beam search), a loop "
        "whose length depends on the data and which a traced graph would freeze at the example's length. "
        "Export --format safetensors (the weights, with model.json naming the model's settings and the "
        f"vocabulary file) and rebuild it with dlrun.models.Seq2Seq, or decode with `dlrun translate {run_dir}`."
    )


def _is_seq2seq_model(run: RunDir) -> bool:
    """From the recorded config alone, before the data is built (the data's spec says it again later)."""
    from hydra.utils import get_object

    from dlrun.models.seq2seq.model import Seq2Seq

    try:
        target = get_object(str(run.recorded_config().model._target_))
    except Exception:  # a user's model the build below names properly
        return False
    return isinstance(target, type) and issubclass(target, Seq2Seq)


# -- rebuilding the run ---------------------------------------------------------------------


def _rebuild(run: RunDir, state: dict, weights_path: Path):
    from omegaconf import open_dict

    from dlrun.experiment import _quiet_lightning, _split_transfer_settings, build, model_arguments

    _quiet_lightning()
    cfg = run.recorded_config()
    with open_dict(cfg):
        restore_recorded_paths(run, cfg, run.recorded_config())
        # ${paths.output_dir} is ${hydra:runtime.output_dir}, which only a Hydra run knows: the run dir.
        if "paths" in cfg:
            cfg.paths.output_dir = str(run.path)
    datamodule = build(cfg.data, "data")
    model_cfg, _ = _split_transfer_settings(cfg.model)
    model = build(model_cfg, "model", **model_arguments(model_cfg, datamodule.spec))
    check_state_fits(model, state, weights_path)
    return datamodule, model.eval(), cfg


def _signature(model, spec, test: dict) -> dict[str, Any]:
    """What the network takes: inputs (and lengths for variable-length sequences)."""
    takes_lengths = "lengths" in inspect.signature(model.forward).parameters
    if spec.task == "seq2seq" or "inputs" not in test:
        return {"lengths": False, "keys": sorted(test)}
    return {"lengths": takes_lengths and "lengths" in test, "keys": ["inputs", "lengths"] if takes_lengths and "lengths" in test else ["inputs"]}


def _example(test: dict, signature: dict) -> tuple:
    from dlrun.data.padding import trim_to_longest

    rows = min(EXAMPLE_ROWS, len(test["inputs"]))
    batch = trim_to_longest({k: v[:rows] for k, v in test.items()})
    return tuple(batch[k].cpu() for k in signature["keys"])


def _check_batches(test: dict, signature: dict) -> list[tuple]:
    """The whole test split in batches, each cut to its own longest sequence as training serves them."""
    from dlrun.data.padding import trim_to_longest

    total = len(test["inputs"])
    if total == 0:
        raise DlrunError("The run's test split is empty: there is nothing to take an example input from.")
    batches = []
    for start in range(0, total, CHECK_BATCH):
        batch = trim_to_longest({k: v[start : start + CHECK_BATCH] for k, v in test.items()})
        batches.append(tuple(batch[k].cpu() for k in signature["keys"]))
    return batches


class _Forward(nn.Module):
    """The network called as the task calls it, with named inputs for the exported graph."""

    def __init__(self, net: nn.Module, lengths: bool) -> None:
        super().__init__()
        self.net = net
        self.with_lengths = lengths

    def forward(self, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        if self.with_lengths:
            return self.net(inputs, lengths=lengths)
        return self.net(inputs)


# -- the formats ----------------------------------------------------------------------------


def _require_onnx() -> None:
    import importlib.util

    missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        raise DlrunError(f"Exporting to ONNX needs {' and '.join(missing)}, which are not installed: {EXPORT_EXTRA}.")


def _write_onnx(model, wrapper, example, signature, batches, expected, path: Path, result: Export) -> None:
    import torch

    from dlrun.commands import recurrent_export

    graph = wrapper
    if signature["lengths"]:
        if not recurrent_export.supports(model):
            raise DlrunError(
                f"This model ({type(model).__name__}) reads packed variable-length sequences, which the ONNX "
                "exporters cannot trace. Export --format torchscript (which can) or --format safetensors."
            )
        graph = recurrent_export.UnpackedRecurrent(model).eval()
        result.notes.append(
            "the graph runs the recurrent layers without packing (each direction over the padded batch, the "
            "backward one reversed within each length), checked against the packed model on the test split"
        )
    batch = torch.export.Dim("batch", min=1)
    if signature["lengths"]:
        steps = torch.export.Dim("steps", min=1)
        dynamic = ({0: batch, 1: steps}, {0: batch})
        input_names = ["inputs", "lengths"]
    else:
        dynamic = ({0: batch},)
        input_names = ["inputs"]
    import logging

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # e.g. "torchvision is not installed. Skipping ..."
    try:
        with warnings.catch_warnings(), _quiet_stdout():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                graph,
                example,
                str(path),
                dynamo=True,
                external_data=False,
                input_names=input_names,
                output_names=["outputs"],
                dynamic_shapes=dynamic,
                verbose=False,
            )
    except DlrunError:
        raise
    except Exception as e:
        message = " ".join(str(e).split())[:500]
        raise DlrunError(
            f"torch.onnx.export could not export this model ({type(model).__name__}): {message}. "
            "Export --format torchscript or --format safetensors instead."
        ) from None
    try:
        import onnxruntime
    except ImportError:
        result.check = f"not checked: onnxruntime is not installed ({EXPORT_EXTRA})"
        return
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    diff = 0.0
    examples = 0
    for batch, reference in zip(batches, expected):
        feeds = {name: tensor.numpy() for name, tensor in zip(names, batch)}
        (outputs,) = session.run(["outputs"], feeds)
        diff = max(diff, float(abs(torch.from_numpy(outputs) - reference).max()))
        examples += len(batch[0])
    _accept(result, diff, f"onnxruntime {onnxruntime.__version__} on the {examples} test examples", "ONNX")


def _write_torchscript(wrapper, example, batches, expected, path: Path, result: Export) -> None:
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TracerWarnings about Python values; the check below decides
            traced = torch.jit.trace(wrapper, example, check_trace=False)
        torch.jit.save(traced, str(path))
    except Exception as e:
        message = " ".join(str(e).split())[:500]
        raise DlrunError(f"torch.jit.trace could not trace this model: {message}. Export --format safetensors instead.") from None
    loaded = torch.jit.load(str(path), map_location="cpu").eval()
    diff = 0.0
    examples = 0
    with torch.no_grad():
        for batch, reference in zip(batches, expected):
            diff = max(diff, float((loaded(*batch) - reference).abs().max()))
            examples += len(batch[0])
    _accept(result, diff, f"torch.jit.load of the file on the {examples} test examples", "TorchScript")


def _write_safetensors(model, path: Path, result: Export) -> None:
    import dlrun
    from dlrun.checkpoints import load_weights, save_weights

    save_weights(model, path, metadata={"format": "pt", "dlrun_version": dlrun.__version__})
    back = load_weights(path)
    own = model.state_dict()
    if set(back) != set(own):
        raise DlrunError(f"The safetensors file written holds other tensors than the model ({sorted(set(own) ^ set(back))[:5]}).")
    diff = max((float((back[k].float() - own[k].float()).abs().max()) for k in own if own[k].numel()), default=0.0)
    _accept(result, diff, f"read back {len(back)} tensors through dlrun's safe loader", "safetensors")


def _accept(result: Export, diff: float, how: str, what: str) -> None:
    result.max_abs_diff = diff
    if not diff <= TOLERANCE:  # NaN fails too
        raise DlrunError(
            f"The {what} export does not compute what the model computes: its outputs differ from torch's by up to "
            f"{diff:.3g} ({how}), above the tolerance of {TOLERANCE:g}. Nothing was written. "
            "Export --format safetensors (the weights themselves) instead."
        )
    result.check = f"{how}: max abs diff from torch {diff:.3g}"


# -- model.json ----------------------------------------------------------------------------


def describe(run: RunDir, cfg, spec, signature, fmt: str, weights: str, weights_path: Path, result: Export) -> dict[str, Any]:
    """What a user of the exported file needs to know: inputs, outputs, classes, scaling, files."""
    from dataclasses import asdict

    import torch
    from omegaconf import OmegaConf

    import dlrun

    inputs = _inputs(spec, signature)
    description: dict[str, Any] = {
        "format": fmt,
        "file": FORMATS[fmt],
        "task": spec.task,
        "inputs": inputs,
        "outputs": _outputs(spec),
        "num_outputs": spec.num_outputs,
        "class_names": list(spec.class_names),
    }
    if spec.task in ("regression", "forecasting"):
        description["target_scaling"] = {
            "mean": spec.target_mean,
            "std": spec.target_std,
            "to_units": "value = output * std + mean",
        }
    if spec.vocab_size or spec.target_vocab_size:
        description["vocabulary"] = {
            "vocab_size": spec.vocab_size,
            "pad_id": spec.pad_id,
            **({"target_vocab_size": spec.target_vocab_size, "bos_id": spec.bos_id, "eos_id": spec.eos_id} if spec.target_vocab_size else {}),
            "files": [p.name for p in run.preprocessing_files() if p.name in ("vocab.json", "seq2seq_vocab.json")],
        }
    description["preprocessing_files"] = [p.name for p in run.preprocessing_files()]
    description["check"] = result.check
    description["max_abs_diff"] = result.max_abs_diff
    description["notes"] = result.notes
    description["data_spec"] = _plain(asdict(spec))
    description["model_config"] = _plain(OmegaConf.to_container(cfg.model, resolve=True))
    description["data_config"] = _plain(OmegaConf.to_container(cfg.data, resolve=True))
    description["run_dir"] = str(run.path)
    description["weights"] = weights
    description["weights_file"] = run.relative(weights_path)
    description["exported_at"] = datetime.now().astimezone().isoformat(timespec="seconds")
    description["dlrun_version"] = dlrun.__version__
    description["torch_version"] = torch.__version__
    return description


def _inputs(spec, signature) -> list[dict[str, Any]]:
    if spec.task == "seq2seq":
        return [
            {"name": "source", "shape": ["batch", "source_steps"], "dtype": "int64",
             "description": "source token ids (seq2seq_vocab.json), right-padded with pad_id"},
            {"name": "source_lengths", "shape": ["batch"], "dtype": "int64", "description": "real tokens of each source"},
            {"name": "target_in", "shape": ["batch", "target_steps"], "dtype": "int64",
             "description": "BOS + target tokens (teacher forcing, for Seq2Seq.forward); decoding starts from BOS alone"},
        ]
    shape = list(spec.input_shape)
    if signature["lengths"]:
        token_ids = spec.vocab_size > 0
        inputs = {
            "name": "inputs",
            "shape": ["batch", "steps", *shape[1:]],
            "dtype": "int64" if token_ids else "float32",
            "description": (
                f"token ids (vocab.json), right-padded with pad_id {spec.pad_id}; steps up to {spec.max_length} as trained"
                if token_ids else f"right-padded sequences of {shape[1:]} features per step"
            ),
        }
        lengths = {
            "name": "lengths",
            "shape": ["batch"],
            "dtype": "int64",
            "description": "real steps of each example, 1 <= length <= steps; steps after it are ignored",
        }
        return [inputs, lengths]
    kind = {1: "features (a table row)", 2: "steps x features (a series window)", 3: "channels x height x width (an image)"}
    return [{
        "name": "inputs",
        "shape": ["batch", *shape],
        "dtype": "float32",
        "description": f"{kind.get(len(shape), 'values')}, preprocessed as the run's data module does (see preprocessing_files)",
    }]


def _outputs(spec) -> list[dict[str, Any]]:
    meaning = {
        "multiclass": "logits, one per class in class_names order; softmax gives probabilities",
        "binary": "one logit; sigmoid gives the probability of class_names[1]",
        "regression": "the standardized target; see target_scaling",
        "forecasting": "the next steps, standardized; see target_scaling",
        "seq2seq": "logits over the target vocabulary for each target_in step",
        "ctc": "logits per step over class_names, the CTC blank (id 0) first; decode the real steps (lengths): "
        "argmax, merge repeats, drop blanks (greedy), or prefix beam search (dlrun.models.ctc_decoding)",
    }.get(spec.task, "the network's outputs")
    steps = {"seq2seq": "target_steps", "ctc": "steps"}
    shape = ["batch", steps[spec.task], spec.num_outputs] if spec.task in steps else ["batch", spec.num_outputs]
    return [{"name": "outputs", "shape": shape, "dtype": "float32", "description": meaning}]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


# -- files ----------------------------------------------------------------------------------


def _refuse_taken(target: Path, names: list[str], chosen: bool, run: RunDir) -> None:
    if target.exists() and not target.is_dir():
        raise DlrunError(f"--output '{target}' is a file; give a directory.")
    taken = [name for name in names if (target / name).exists()]
    if taken:
        if chosen:
            hint = "give another --output dir"
        else:
            hint = f"give --output DIR for this export (e.g. --output {run.path / DEFAULT_DIR}-2)"
        raise DlrunError(f"'{target}' already holds {', '.join(taken)} from an earlier export, and dlrun never overwrites them; {hint}.")


def _move_into_place(scratch: Path, target: Path, names: list[str], run: RunDir) -> None:
    """Every file or none: each is linked in under its name (which fails on a name that exists)."""
    placed = []
    try:
        for name in names:
            os.link(scratch / name, target / name)
            placed.append(name)
    except FileExistsError:
        for name in placed:
            (target / name).unlink()
        _refuse_taken(target, names, chosen=True, run=run)
        raise
    except OSError:  # a file system without hard links: check, then move
        for name in placed:
            (target / name).unlink()
        _refuse_taken(target, names, chosen=True, run=run)
        for name in names:
            shutil.move(str(scratch / name), str(target / name))


class _quiet_stdout:
    """torch.onnx.export prints its progress ("[torch.onnx] Run decompositions..."): keep it off the
    console, which is the user's."""

    def __enter__(self):
        import contextlib
        import io

        self._buffer = io.StringIO()
        self._redirect = contextlib.redirect_stdout(self._buffer)
        self._redirect.__enter__()
        return self

    def __exit__(self, *exc):
        return self._redirect.__exit__(*exc)


def print_export(result: Export) -> None:
    """Plain lines (never wrapped), so scripts can read them too."""
    from rich.console import Console

    console = Console(soft_wrap=True, highlight=False)
    console.print(f"[bold]dlrun export: {result.format}[/bold]")
    console.print(f"written: {', '.join(result.files)} into {result.directory}", markup=False)
    console.print(f"check: {result.check}", markup=False)
    for note in result.notes:
        console.print(f"note: {note}", markup=False)
