"""`dlrun export RUN_DIR --format onnx|torchscript|safetensors`: a finished run's network as a file
to serve elsewhere, with model.<format>.json saying what it takes and gives.

The data and the network are rebuilt from the run's own .hydra/config.yaml, the weights come
through the safe loader, and an example batch comes from the run's own test split. ONNX and
TorchScript export the network inside the run's preprocessing and read-out (dlrun.export.raw_inputs),
so they take raw inputs and answer as `dlrun predict` does; the description is also written inside
the file (ONNX metadata_props, a TorchScript extra file). Every export is checked before it is kept:
the ONNX graph with onnxruntime (when installed) and the TorchScript module after loading it back,
each against torch's outputs on the whole test split; the safetensors file by reading it back.

Formats sit side by side in one dir: each has its own file and description, and the preprocessing
files they share are copied once (a copy already there must be the same bytes). Files are written
into a scratch dir and moved into place only when all is well, and never over a file that exists:
exporting a format again into the same dir is refused, naming the files, so nothing is lost.

This file is the verb: its argument checks, the output dir and the placing of files. Each format's
writer, the rebuilding of the run and the description (model.<format>.json) live in dlrun.export.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from dlrun.errors import DlrunError, unknown_choice
from dlrun.export import check
from dlrun.export.description import describe, metadata_props
from dlrun.export.onnx import add_metadata, require_onnx, write_onnx
from dlrun.export.raw_inputs import GraphInputs, graph_inputs, raw_batches, raw_model
from dlrun.export.result import FORMATS, Export, description_file
from dlrun.export.safetensors import write_safetensors
from dlrun.export.signature import signature_of
from dlrun.export.torchscript import add_description, write_torchscript
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
    names = _names(target, fmt, run, chosen=output is not None)
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
        file = scratch / FORMATS[fmt]
        if fmt == "safetensors":
            write_safetensors(model, file, result)
            description = describe(run, cfg, spec, signature, fmt, weights, weights_path, result)
        else:
            import torch

            graph = _graph_inputs(run, cfg, spec, signature)
            wrapper = raw_model(graph, model, spec, signature)
            batches = raw_batches(graph, check.check_batches(test, signature))
            with torch.no_grad():
                expected = [wrapper(*batch) for batch in batches]
            (example,) = raw_batches(graph, [check.example(test, signature)])
            if fmt == "onnx":
                write_onnx(model, wrapper, example, signature, batches, expected, file, result)
            else:
                write_torchscript(wrapper, example, batches, expected, file, result)
            result.notes.append(
                f"the graph applies the run's preprocessing: it takes {graph.what} ({graph.dtype}), see "
                f"'preprocessing' in {description_file(fmt)}"
                if graph.in_graph
                else graph.outside
            )
            readout = wrapper.readout.name if wrapper.readout is not None else None
            description = describe(run, cfg, spec, signature, fmt, weights, weights_path, result, graph, readout)
        text = json.dumps(description, indent=2, allow_nan=True) + "\n"
        if fmt == "onnx":
            add_metadata(file, metadata_props(description))
        elif fmt == "torchscript":
            add_description(file, text)
        (scratch / description_file(fmt)).write_text(text)
        for path in run.preprocessing_files():
            if path.name in names:
                shutil.copyfile(path, scratch / path.name)
        _move_into_place(scratch, target, names, run)


def _graph_inputs(run: RunDir, cfg, spec, signature) -> GraphInputs:
    """The run's preprocessing as predict reads it; a run whose preprocessing predict cannot read (a
    data module of the user's, a run older than preprocessing.json) exports on prepared inputs."""
    from dlrun.predict.run import saved_preprocessing

    try:
        kind, saved = saved_preprocessing(run.path, cfg)
    except DlrunError:
        return graph_inputs(None, {}, spec, signature)
    return graph_inputs(kind, saved, spec, signature)


def _seq2seq_refusal(fmt: str, run_dir) -> DlrunError:
    return DlrunError(
        f"A Seq2Seq model cannot be exported as {fmt} honestly: it decodes step by step, each step's input "
        "being the previous step's output, until EOS or a length limit (greedy or beam search), a loop "
        "whose length depends on the data and which a traced graph would freeze at the example's length. "
        "Export --format safetensors (the weights, with model.safetensors.json naming the model's settings and the "
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


def _names(target: Path, fmt: str, run: RunDir, chosen: bool) -> list[str]:
    """The files this export places: the format's file and description, and the run's preprocessing
    files that the dir lacks. Refused: a dir that holds this format already, or another run's
    preprocessing file under the same name."""
    if target.exists() and not target.is_dir():
        raise DlrunError(f"--output '{target}' is a file; give a directory.")
    own = [FORMATS[fmt], description_file(fmt)]
    taken = [name for name in own if (target / name).exists()]
    if taken:
        example = "--output DIR" if chosen else f"--output DIR (e.g. --output {run.path / DEFAULT_DIR}-2)"
        raise DlrunError(
            f"'{target}' already holds {', '.join(taken)} from an earlier {fmt} export, and dlrun never overwrites "
            f"an export: to export {fmt} again, move or delete {' and '.join(taken)} first, or export into another "
            f"dir with {example}. Other formats (--format {' or '.join(f for f in FORMATS if f != fmt)}) can go "
            "into the same dir."
        )
    copies = []
    for path in run.preprocessing_files():
        there = target / path.name
        if not there.exists():
            copies.append(path.name)
        elif not there.is_file() or there.read_bytes() != path.read_bytes():
            raise DlrunError(
                f"'{target}' already holds a {path.name} that is not this run's (another run's export?), and the "
                f"exported model needs this run's own beside it; give another --output dir."
            )
    return own + copies


def _move_into_place(scratch: Path, target: Path, names: list[str], run: RunDir) -> None:
    """Every file or none: each is linked in under its name (which fails on a name that exists)."""
    placed = []
    try:
        for name in names:
            os.link(scratch / name, target / name)
            placed.append(name)
    except FileExistsError:  # another export got there first
        for name in placed:
            (target / name).unlink()
        taken = [name for name in names if (target / name).exists()]
        raise DlrunError(
            f"'{target}' now holds {', '.join(taken)}, written while this export ran; dlrun never overwrites "
            "an export. Nothing of this one was kept: export again, into another --output dir."
        ) from None
    except OSError:  # a file system without hard links: check, then move
        for name in placed:
            (target / name).unlink()
        if any((target / name).exists() for name in names):
            raise DlrunError(
                f"'{target}' now holds files of another export; export again into another --output dir."
            ) from None
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
