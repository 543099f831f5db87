"""Give every run a directory of its own: a run never writes into one that already holds results."""

from __future__ import annotations

from itertools import count
from pathlib import Path

from dlrun.errors import ConfigError


def run_dir_key(multirun: bool) -> str:
    return "hydra.sweep.dir" if multirun else "hydra.run.dir"


def reserve(path: Path, chosen_by_user: bool) -> Path:
    """Create the run dir, atomically, so two runs started in the same second cannot share one.

    A default (timestamped) dir that is taken gets a numbered suffix; a dir the user named must be
    new or empty, because its old results would otherwise be mixed with or overwritten by new ones.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for attempt in count():
        candidate = path if attempt == 0 else path.with_name(f"{path.name}_{attempt}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            if not any(candidate.iterdir()):
                return candidate
            if chosen_by_user:
                raise ConfigError(
                    f"The run dir '{path}' already exists and holds an earlier run; dlrun never writes "
                    "into it. Name a new dir, or leave hydra.run.dir / hydra.sweep.dir unset to get a "
                    "fresh timestamped one."
                ) from None
    raise AssertionError("unreachable")
