"""The TorchScript writer: torch.jit.trace of the network, checked by loading the saved file back
and running it on the whole test split."""

from __future__ import annotations

import warnings
from pathlib import Path

from dlrun.errors import DlrunError
from dlrun.export.check import accept
from dlrun.export.result import Export


def write_torchscript(wrapper, example, batches, expected, path: Path, result: Export) -> None:
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
            diff = max(diff, float((loaded(*batch) - reference).abs().max()))
            examples += len(batch[0])
    accept(result, diff, f"torch.jit.load of the file on the {examples} test examples", "TorchScript")
