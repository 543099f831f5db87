"""Where a run came from, for results.json: versions, the command line, the device, wall-clock times.

Everything here is cheap and never raises: provenance that cannot be found is recorded as None
rather than stopping a run.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shlex
import sys
from datetime import datetime
from typing import Any

PROGRAM = "dlrun"
# `dlrun train ARGS` as typed, for the job processes a sweep starts (see command_line).
COMMAND_LINE_ENV = "DLRUN_COMMAND_LINE"


def version_of(distribution: str) -> str | None:
    """The installed version of a distribution (as pip names it), or None when it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def dlrun_version() -> str | None:
    found = version_of("dlrun")
    if found is not None:
        return found
    try:  # a source tree on sys.path without an install
        from dlrun import __version__

        return __version__
    except ImportError:
        return None


def now_iso() -> str:
    """The local time now, ISO 8601 with its UTC offset, e.g. 2026-12-02T03:14:15.926+01:00."""
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


def command_line(job_overrides: list[str]) -> str:
    """The command as the user typed it, shell-quoted: `dlrun train model=cnn 'optimizer.lr=1e-3'`.

    `launch()` replaces sys.argv with ["dlrun train", *hydra_args] for Hydra, and those arguments end
    with what dlrun adds (the run dir it reserved), so the typed words are taken when this module is
    first imported by `dlrun train`, before that (see `remember_command_line`), and kept in the
    environment, where the processes a sweep's launcher starts for its jobs (joblib, submitit) find
    them too. Where neither is at hand (a script calling `launch()`), the arguments Hydra got, or
    else this job's overrides, make the line.
    """
    remembered = os.environ.get(COMMAND_LINE_ENV)
    if remembered:
        return remembered
    if sys.argv[:1] == [f"{PROGRAM} train"]:
        return shlex.join([PROGRAM, "train", *sys.argv[1:]])
    return shlex.join([PROGRAM, "train", *job_overrides])


def remember_command_line(argv: list[str] | None = None) -> None:
    """Keep `dlrun train ARGS` in the environment when this process was started as that command
    (its console script or `python -m dlrun`); any other process leaves the environment alone."""
    argv = list(sys.argv if argv is None else argv)
    if len(argv) >= 2 and argv[1] == "train" and _is_dlrun_program(argv[0]):
        os.environ[COMMAND_LINE_ENV] = shlex.join([PROGRAM, *argv[1:]])


def _is_dlrun_program(path: str) -> bool:
    name = os.path.basename(path)
    if name.startswith("__main__.py"):  # python -m dlrun
        return os.path.basename(os.path.dirname(path)) == PROGRAM
    return name == PROGRAM or name.startswith(f"{PROGRAM}.")  # dlrun, dlrun.exe on Windows


def describe_device(trainer: Any) -> tuple[str, str | None]:
    """(kind, name) of the device the trainer trains on: ("cpu", the CPU's model), ("cuda", the
    GPU's name), ("mps", "Apple MPS"); the name is None where it cannot be found."""
    try:
        device = trainer.strategy.root_device
    except Exception:
        return "unknown", None
    kind = device.type
    if kind == "cuda":
        try:
            import torch

            return kind, torch.cuda.get_device_name(device)
        except Exception:
            return kind, None
    if kind == "mps":
        return kind, "Apple MPS"
    return kind, cpu_name()


def cpu_name() -> str | None:
    """The CPU's model name (from /proc/cpuinfo on Linux), or the platform's processor string."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.lower().startswith(("model name", "hardware", "processor\t: ")) and ":" in line:
                    name = line.split(":", 1)[1].strip()
                    if name and not name.isdigit():
                        return name
    except OSError:
        pass
    return platform.processor() or platform.machine() or None


remember_command_line()  # at import: `dlrun train` imports this before launch() replaces sys.argv
