"""The TorchScript writer: torch.jit.trace of the network, checked by loading the saved file back
and running it on the whole test split."""

from __future__ import annotations

import warnings
from pathlib import Path

from dlrun.errors import DlrunError
from dlrun.export.check import accept, difference, worse
from dlrun.export.result import Export

EXTRA_FILE = "dlrun.json"


def write_torchscript(wrapper, example, batches, expected, path: Path, result: Export) -> None:
    """`wrapper` is the RawInputModel around the network (preprocessing, network, read-out)."""
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TracerWarnings about Python values; the check below decides
            traced = torch.jit.trace(wrapper, example, check_trace=False)
        torch.jit.save(traced, str(path))
    except Exception as e:
        message = " ".join(str(e).split())[:500]
        raise DlrunError(
            f"torch.jit.trace could not trace this model: {message}. Export --format safetensors instead."
        ) from None
    loaded = torch.jit.load(str(path), map_location="cpu").eval()
    diff = 0.0
    examples = 0
    with torch.no_grad():
        for batch, reference in zip(batches, expected):
            diff = worse(diff, difference(loaded(*batch), reference, wrapper.output_scales()))
            examples += len(batch[0])
    accept(result, diff, f"torch.jit.load of the file on the {examples} test examples", "TorchScript")


def add_description(path: Path, description: str) -> None:
    """The description inside the file too, as the extra file EXTRA_FILE: torch.jit.load(path,
    _extra_files={EXTRA_FILE: ""}) fills it in."""
    import torch

    module = torch.jit.load(str(path), map_location="cpu")
    torch.jit.save(module, str(path), _extra_files={EXTRA_FILE: description})
