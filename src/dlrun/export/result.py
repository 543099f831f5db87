"""The file each export format writes, and the record of one export that the writers fill in and
`dlrun export` prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

FORMATS = {"onnx": "model.onnx", "torchscript": "model.pt", "safetensors": "model.safetensors"}


def description_file(fmt: str) -> str:
    """Each format's own description, so several formats sit side by side in one dir: model.onnx.json."""
    return f"{FORMATS[fmt]}.json"


@dataclass
class Export:
    format: str
    directory: Path
    files: list[str] = field(default_factory=list)
    check: str = ""  # what was checked and how far the outputs were from torch's
    max_abs_diff: float | None = None
    notes: list[str] = field(default_factory=list)
