"""model.<format>.json (and, inside the file, ONNX metadata_props or a TorchScript extra file): what
a user of the exported file needs to know (inputs, what the graph does to them, outputs, classes,
target scaling, vocabulary and preprocessing files), with the check's result and the run it came from."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from dlrun.export.raw_inputs import GraphInputs
from dlrun.export.result import FORMATS, Export
from dlrun.results import json_ready
from dlrun.run_dir.reading import RunDir


def describe(
    run: RunDir,
    cfg,
    spec,
    signature,
    fmt: str,
    weights: str,
    weights_path: Path,
    result: Export,
    graph: GraphInputs | None = None,
    readout: str | None = None,
) -> dict[str, Any]:
    """What a user of the exported file needs to know. `graph`: what the exported graph takes and
    does before the network (None for safetensors, the network's weights alone); `readout`: the name
    of the graph's second output (probabilities or values), if it has one."""
    from dataclasses import asdict

    import torch
    from omegaconf import OmegaConf

    import dlrun

    description: dict[str, Any] = {
        "format": fmt,
        "file": FORMATS[fmt],
        "task": spec.task,
        "inputs": _graph_inputs(graph, spec, signature) if graph is not None else _inputs(spec, signature),
        "preprocessing": _preprocessing(graph),
        "outputs": _outputs(spec) + _readout(spec, readout),
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
            **(
                {"target_vocab_size": spec.target_vocab_size, "bos_id": spec.bos_id, "eos_id": spec.eos_id}
                if spec.target_vocab_size
                else {}
            ),
            "files": [p.name for p in run.preprocessing_files() if p.name in ("vocab.json", "seq2seq_vocab.json")],
        }
    description["preprocessing_files"] = [p.name for p in run.preprocessing_files()]
    description["check"] = result.check
    description["max_abs_diff"] = result.max_abs_diff
    description["notes"] = result.notes
    description["data_spec"] = json_ready(asdict(spec))
    description["model_config"] = json_ready(OmegaConf.to_container(cfg.model, resolve=True))
    description["data_config"] = json_ready(OmegaConf.to_container(cfg.data, resolve=True))
    description["run_dir"] = str(run.path)
    description["weights"] = weights
    description["weights_file"] = run.relative(weights_path)
    description["exported_at"] = datetime.now().astimezone().isoformat(timespec="seconds")
    description["dlrun_version"] = dlrun.__version__
    description["torch_version"] = torch.__version__
    return description


def _graph_inputs(graph: GraphInputs, spec, signature) -> list[dict[str, Any]]:
    if not graph.in_graph:
        return _inputs(spec, signature)
    inputs: dict[str, Any] = {"name": "inputs", "shape": graph.shape, "dtype": graph.dtype, "description": graph.what}
    if "columns" in graph.extra:
        inputs["columns"] = graph.extra["columns"]
    return [inputs]


def _preprocessing(graph: GraphInputs | None) -> dict[str, Any]:
    if graph is None:
        return {
            "in_graph": False,
            "outside_graph": "The weights alone: the network takes its prepared inputs (see inputs); the run's "
            "preprocessing is in preprocessing_files, and an ONNX or TorchScript export applies it in the graph.",
        }
    return {"in_graph": graph.in_graph, "steps": graph.steps, "outside_graph": graph.outside, **graph.extra}


def _readout(spec, readout: str | None) -> list[dict[str, Any]]:
    if readout is None:
        return []
    if readout == "probabilities":
        return [
            {
                "name": "probabilities",
                "shape": ["batch", len(spec.class_names)],
                "dtype": "float64",
                "description": "the probability of each class, in class_names order (dlrun predict's prob_ columns); "
                "the predicted class is class_names[argmax]",
            }
        ]
    shape = ["batch", spec.horizon] if spec.task == "forecasting" else ["batch"]
    return [
        {
            "name": "values",
            "shape": shape,
            "dtype": "float64",
            "description": "the prediction in the target's units (outputs * std + mean), as dlrun predict reports it",
        }
    ]


def _inputs(spec, signature) -> list[dict[str, Any]]:
    if spec.task == "seq2seq":
        return [
            {
                "name": "source",
                "shape": ["batch", "source_steps"],
                "dtype": "int64",
                "description": "source token ids (seq2seq_vocab.json), right-padded with pad_id",
            },
            {
                "name": "source_lengths",
                "shape": ["batch"],
                "dtype": "int64",
                "description": "real tokens of each source",
            },
            {
                "name": "target_in",
                "shape": ["batch", "target_steps"],
                "dtype": "int64",
                "description": "BOS + target tokens (teacher forcing, for Seq2Seq.forward); decoding starts from BOS alone",
            },
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
                if token_ids
                else f"right-padded sequences of {shape[1:]} features per step"
            ),
        }
        lengths = {
            "name": "lengths",
            "shape": ["batch"],
            "dtype": "int64",
            "description": "real steps of each example, 1 <= length <= steps; steps after it are ignored",
        }
        return [inputs, lengths]
    kind = {
        1: "features (a table row)",
        2: "steps x features (a series window)",
        3: "channels x height x width (an image)",
    }
    return [
        {
            "name": "inputs",
            "shape": ["batch", *shape],
            "dtype": "float32",
            "description": f"{kind.get(len(shape), 'values')}, preprocessed as the run's data module does (see preprocessing_files)",
        }
    ]


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


def metadata_props(description: dict[str, Any]) -> dict[str, str]:
    """The description as ONNX metadata_props (string to string): the parts a client reads first as
    their own keys, JSON where they are not strings, and the whole description under `dlrun`."""
    import json

    def text(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(json_ready(value), allow_nan=True)

    props = {
        "dlrun_version": description["dlrun_version"],
        "run_dir": description["run_dir"],
        "task": description["task"],
        "class_names": text(description["class_names"]),
        "inputs": text(description["inputs"]),
        "outputs": text(description["outputs"]),
        "preprocessing": text(description["preprocessing"]),
    }
    if "target_scaling" in description:
        props["target_scaling"] = text(description["target_scaling"])
    props["dlrun"] = text(description)
    return props
