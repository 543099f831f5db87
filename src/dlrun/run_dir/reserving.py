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
    Empty counts what the other processes of a torchrun launch write as they start (Hydra's `.hydra`
    and log files): they are the same run, and they cannot get further before rank 0 joins them.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for attempt in count():
        candidate = path if attempt == 0 else path.with_name(f"{path.name}_{attempt}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            if all(is_startup_file(entry) for entry in candidate.iterdir()):
                return candidate
            if chosen_by_user:
                raise ConfigError(
                    f"The run dir '{path}' already exists and holds an earlier run; dlrun never writes "
                    "into it. Name a new dir, or leave hydra.run.dir / hydra.sweep.dir unset to get a "
                    "fresh timestamped one."
                ) from None
    raise AssertionError("unreachable")


def is_startup_file(entry: Path) -> bool:
    return entry.name == ".hydra" or (entry.suffix == ".log" and entry.is_file())
