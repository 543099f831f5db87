"""model.json: what a user of the exported file needs to know (inputs, outputs, classes, target
scaling, vocabulary and preprocessing files), with the check's result and the run it came from."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from dlrun.export.result import FORMATS, Export
from dlrun.results import json_ready
from dlrun.run_dir.reading import RunDir


def describe(
    run: RunDir, cfg, spec, signature, fmt: str, weights: str, weights_path: Path, result: Export
) -> dict[str, Any]:
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
