"""The ONNX writer: torch.onnx.export (the dynamo exporter) with a dynamic batch (and steps for
variable-length sequences), checked with onnxruntime on the whole test split when it is installed."""

from __future__ import annotations

import warnings
from pathlib import Path

from dlrun.errors import DlrunError
from dlrun.export.check import accept, difference, worse
from dlrun.export.result import Export

EXPORT_EXTRA = "pip install 'dlrun[export]' (onnx, onnxscript, onnxruntime)"


def require_onnx() -> None:
    import importlib.util

    missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        raise DlrunError(f"Exporting to ONNX needs {' and '.join(missing)}, which are not installed: {EXPORT_EXTRA}.")


def write_onnx(model, wrapper, example, signature, batches, expected, path: Path, result: Export) -> None:
    """`wrapper` is the RawInputModel around `model` (preprocessing, network, read-out)."""
    import torch

    from dlrun.export import unpacked_recurrent

    graph = wrapper
    if signature["lengths"]:
        if not unpacked_recurrent.supports(model):
            raise DlrunError(
                f"This model ({type(model).__name__}) reads packed variable-length sequences, which the ONNX "
                "exporters cannot trace. Export --format torchscript (which can) or --format safetensors."
            )
        graph = wrapper.with_network(unpacked_recurrent.UnpackedRecurrent(model).eval())
        result.notes.append(
            "the graph runs the recurrent layers without packing (each direction over the padded batch, the "
            "backward one reversed within each length), checked against the packed model on the test split"
        )
    batch = torch.export.Dim("batch", min=1)
    if signature["lengths"]:
        steps = torch.export.Dim("steps", min=1)
        dynamic: tuple[dict[int, torch.export.Dim], ...] = ({0: batch, 1: steps}, {0: batch})
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
                output_names=wrapper.output_names,
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
        outputs = session.run(wrapper.output_names, feeds)
        diff = worse(diff, difference(outputs, reference, wrapper.output_scales()))
        examples += len(batch[0])
    accept(result, diff, f"onnxruntime {onnxruntime.__version__} on the {examples} test examples", "ONNX")


def add_metadata(path: Path, properties: dict[str, str]) -> None:
    """Write `properties` into the file's metadata_props (what onnx.load and onnxruntime's
    get_modelmeta().custom_metadata_map read), the graph untouched."""
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in properties.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))


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
