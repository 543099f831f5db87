"""`dlrun export RUN_DIR --format onnx|torchscript|safetensors`: a finished run's network as a file
to serve elsewhere, with model.json saying what it takes and gives.

The data and the network are rebuilt from the run's own .hydra/config.yaml, the weights come
through the safe loader, and an example batch comes from the run's own test split. Every export is
checked before it is kept: the ONNX graph with onnxruntime (when installed) and the TorchScript
module after loading it back, each against torch's outputs on the whole test split; the safetensors
file by reading it back. Files are written into a scratch dir and moved into place only when all is
well, and never over a file that exists.

This file is the verb: its argument checks, the output dir and the placing of files. Each format's
writer, the rebuilding of the run and model.json live in dlrun.export.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from dlrun.errors import DlrunError, unknown_choice
from dlrun.export import check
from dlrun.export.description import describe
from dlrun.export.onnx import require_onnx, write_onnx
from dlrun.export.result import DESCRIPTION_FILE, FORMATS, Export
from dlrun.export.safetensors import write_safetensors
from dlrun.export.signature import Forward, signature_of
from dlrun.export.torchscript import write_torchscript
from dlrun.run_dir.reading import RunDir, open_run
from dlrun.run_dir.rebuilding import open_trained

DEFAULT_DIR = "export"


def export(
    run_dir: str | Path, fmt: str, output: str | Path | None = None, weights: str = "best", trust_config: bool = False
) -> Export:
    if fmt not in FORMATS:
        raise unknown_choice("--format", fmt, FORMATS)
    run = open_run(run_dir, trust_config)
    target = Path(output).expanduser() if output else run.path / DEFAULT_DIR
    names = [FORMATS[fmt], DESCRIPTION_FILE, *(p.name for p in run.preprocessing_files())]
    _refuse_taken(target, names, chosen=output is not None, run=run)
    trained = open_trained(run, weights)  # refuses a pickle before anything else runs
    if fmt == "onnx":
        require_onnx()
    if fmt != "safetensors" and _is_seq2seq_model(run):
        raise _seq2seq_refusal(fmt, run_dir)

    cfg = trained.config()
    datamodule = trained.data(cfg)
    spec = datamodule.spec
    model = trained.model(spec, cfg)
    test = datamodule.split("test")
    signature = signature_of(model, spec, test)
    if spec.task == "seq2seq" and fmt != "safetensors":
        raise _seq2seq_refusal(fmt, run_dir)
    result = Export(fmt, target)
    made = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    try:
        _export_into(run, cfg, spec, model, test, signature, fmt, weights, trained.weights, target, names, result)
    except BaseException:
        if made and target.is_dir() and not any(target.iterdir()):
            target.rmdir()  # only the empty dir this call made
        raise
    result.files = names
    return result


def _export_into(run, cfg, spec, model, test, signature, fmt, weights, weights_path, target, names, result) -> None:
    with tempfile.TemporaryDirectory(prefix=".dlrun-export-", dir=target) as scratch_name:
        scratch = Path(scratch_name)
        if fmt == "safetensors":
            write_safetensors(model, scratch / FORMATS[fmt], result)
        else:
            import torch

            batches = check.check_batches(test, signature)
            wrapper = Forward(model, signature["lengths"]).eval()
            with torch.no_grad():
                expected = [wrapper(*batch) for batch in batches]
            example = check.example(test, signature)
            if fmt == "onnx":
                write_onnx(model, wrapper, example, signature, batches, expected, scratch / FORMATS[fmt], result)
            else:
                write_torchscript(wrapper, example, batches, expected, scratch / FORMATS[fmt], result)
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
        raise DlrunError(
            f"'{target}' already holds {', '.join(taken)} from an earlier export, and dlrun never overwrites them; {hint}."
        )


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


def print_export(result: Export) -> None:
    """Plain lines (never wrapped), so scripts can read them too."""
    from rich.console import Console

    console = Console(soft_wrap=True, highlight=False)
    console.print(f"[bold]dlrun export: {result.format}[/bold]")
    console.print(f"written: {', '.join(result.files)} into {result.directory}", markup=False)
    console.print(f"check: {result.check}", markup=False)
    for note in result.notes:
        console.print(f"note: {note}", markup=False)
