"""Where generated data sets are kept between runs: $XDG_CACHE_HOME/dlrun, else ~/.cache/dlrun.

A generated set is one .npz file named by a hash of everything that made it, so a change of any
setting (or of the synthesizer's version) makes a new file rather than reusing a stale one, and
identical settings always find the file again. Files are written to a temporary name and renamed,
so a run stopped while writing never leaves a truncated file behind for the next one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dlrun.errors import ConfigError

CACHE_ENV = "XDG_CACHE_HOME"


def cache_dir(override: str | None = None) -> Path:
    """`override` when given (data.cache_dir), else $XDG_CACHE_HOME/dlrun, else ~/.cache/dlrun."""
    if override:
        return Path(str(override)).expanduser()
    base = os.environ.get(CACHE_ENV)
    return (Path(base) if base else Path.home() / ".cache") / "dlrun"


def settings_key(settings: dict) -> str:
    """16 hex digits of SHA-256 over the settings as canonical JSON."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def cached_arrays(path: Path, make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays saved at `path`, or `make()`'s, saved there first. An unreadable file is made again."""
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as saved:
                return {name: saved[name] for name in saved.files}
        except (OSError, ValueError, EOFError):
            pass  # a file from an interrupted or foreign writer: make it again
    arrays = make()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.stem, suffix=".tmp.npz", delete=False) as f:
            temporary = Path(f.name)
            np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stubs match **arrays against allow_pickle
        os.replace(temporary, path)
    except OSError as e:
        raise ConfigError(
            f"Could not write the generated data to the cache '{path}': {' '.join(str(e).split())}. Point "
            f"data.cache_dir (or ${CACHE_ENV}) at a folder you can write to."
        ) from None
    return arrays
