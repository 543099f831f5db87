"""The one way dlrun reads checkpoints: tensors and plain values only, never code.

A `.ckpt` or `.pt` file is a pickle, and unpickling can call any function the file names, so a
shared checkpoint could run code on the machine that loads it. Every load in dlrun goes through
`load_checkpoint` (torch's `weights_only=True` unpickler, which builds only tensors, containers and
the types allowed below) or reads a `.safetensors` file, a format that holds tensors and nothing else.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from dlrun.errors import DlrunError

SAFETENSORS_SUFFIX = ".safetensors"
# Types besides tensors and plain containers that dlrun's own checkpoints need: none. Lightning's
# checkpoint of a dlrun task (loops, callbacks, optimizer and scheduler states) holds only tensors,
# numbers, strings and containers; tests/test_checkpoints.py checks every family and schedule.
ALLOWED_GLOBALS: tuple[Any, ...] = ()
LIGHTNING_MODEL_PREFIX = "model."  # dlrun's tasks hold the network as `self.model`


class UnsafeCheckpointError(DlrunError):
    """The file needs more than tensors and plain values to load: loading it could run code."""


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint as a dict, loaded without running anything it names.

    A `.safetensors` file comes back as {"state_dict": tensors}, the shape of a torch checkpoint.
    """
    path = Path(path)
    if path.suffix == SAFETENSORS_SUFFIX:
        return {"state_dict": _read_safetensors(path)}
    try:
        with torch.serialization.safe_globals(list(ALLOWED_GLOBALS)):
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise UnsafeCheckpointError(_refusal(path, _unsafe_types(path, e))) from None
    except Exception as e:  # truncated, not a checkpoint at all, or a format torch cannot read
        raise DlrunError(f"Could not read the checkpoint '{path}': {' '.join(str(e).split())}") from None
    if not isinstance(loaded, dict):
        raise DlrunError(f"'{path}' holds a {type(loaded).__name__}, not a checkpoint or state dict.")
    return loaded


def load_weights(path: str | Path) -> dict[str, Tensor]:
    """The network's tensors, by the names of the model's own state dict.

    Takes a dlrun (Lightning) checkpoint, whose network tensors sit under `model.`, a plain state
    dict saved with torch.save, or a `.safetensors` file.
    """
    saved = load_checkpoint(path)
    state = saved.get("state_dict", saved)
    tensors = (
        {key: value for key, value in state.items() if isinstance(value, Tensor)} if isinstance(state, Mapping) else {}
    )
    if not tensors:
        raise DlrunError(f"'{path}' holds no tensors by name (no state dict): it is not a model's weights.")
    if any(key.startswith(LIGHTNING_MODEL_PREFIX) for key in tensors):
        prefix = len(LIGHTNING_MODEL_PREFIX)
        tensors = {key[prefix:]: value for key, value in tensors.items() if key.startswith(LIGHTNING_MODEL_PREFIX)}
    return tensors


def save_weights(model: nn.Module, path: str | Path, metadata: Mapping[str, str] | None = None) -> Path:
    """Write the model's tensors as safetensors, atomically: a crash never leaves half a file."""
    from safetensors.torch import save_model

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    save_model(model, str(tmp), metadata=dict(metadata or {}))
    os.replace(tmp, path)
    return path


def _read_safetensors(path: Path) -> dict[str, Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as e:
        raise DlrunError(f"Could not read the safetensors file '{path}': {' '.join(str(e).split())}") from None


def _unsafe_types(path: Path, error: Exception) -> list[str]:
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # an old (non-zip) pickle: torch's error message names the first one
        names = []
    allowed = {f"{g.__module__}.{g.__qualname__}" for g in ALLOWED_GLOBALS}
    names = [name for name in names if name not in allowed]
    if not names:
        text = str(error)
        marker = "Unsupported global: GLOBAL "
        if marker in text:
            names = [text.split(marker, 1)[1].split()[0]]
    return names


def _refusal(path: Path, types: list[str]) -> str:
    named = f" ({', '.join(types)})" if types else ""
    return (
        f"Refusing to load '{path}': it holds pickled Python objects{named} that could run code when "
        "loaded. dlrun loads weights only: tensors and plain values from a torch checkpoint, or a "
        f"{SAFETENSORS_SUFFIX} file. Ask whoever shared it for the run's checkpoints/weights.safetensors, "
        "or, if you trust its source, re-save just its tensors (torch.save(model.state_dict(), path))."
    )
