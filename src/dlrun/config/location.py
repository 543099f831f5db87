"""Where the packaged config tree lives: inside the wheel, or at the top of a source checkout."""

from __future__ import annotations

from pathlib import Path

PRIMARY_CONFIG = "train"


def config_dir() -> Path:
    package = Path(__file__).resolve().parents[1]
    installed = package / "conf"  # wheel: the build copies conf/ into the package
    if installed.is_dir():
        return installed
    return package.parents[1] / "conf"  # editable install: src/dlrun/../../conf
