"""What a run leaves behind for people and for the sweep report: results.json and a summary."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dlrun import provenance
from dlrun.distributed import is_rank_zero
from dlrun.epochs import EPOCH_BASE

RESULTS_FILE = "results.json"


@dataclass
class RunResult:
    run_dir: str
    overrides: list[str]
    monitor: str
    monitor_mode: str
    status: str = "running"  # running | completed | failed | diverged | interrupted
    best_value: float | None = None
    best_epoch: int | None = None  # like every epoch here and in `history`, from 1 (see epoch_base)
    test_metrics: dict[str, float] = field(default_factory=dict)
    tested_on: str | None = None  # which weights the test saw: best (restored or checkpoint) or last
    epochs: int = 0  # epochs trained: the last one's number
    wall_time_s: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    # Test metrics of simple reference predictors on the same test examples, e.g. naive forecasts.
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    look_at: list[str] = field(default_factory=list)  # a command per logger that opens what it wrote
    error: str | None = None
    # The process training it: a "running" run whose process is gone was killed (`kill -9`, power cut).
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)
    # Provenance: what made this run and where (see dlrun.provenance). Times are ISO 8601 with the
    # UTC offset; device is what the Trainer trained on (cpu | cuda | mps) and device_name its model.
    seed: int | None = None
    command_line: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    device: str | None = None
    device_name: str | None = None
    # torch's CPU threads and why (trainer.threads; see dlrun.threads), and OMP_WAIT_POLICY (None:
    # OpenMP's default), as this run had them.
    torch_threads: int | None = None
    threads_reason: str | None = None
    openmp_wait_policy: str | None = None
    dlrun_version: str | None = field(default_factory=provenance.dlrun_version)
    torch_version: str | None = field(default_factory=lambda: provenance.version_of("torch"))
    lightning_version: str | None = field(default_factory=lambda: provenance.version_of("pytorch-lightning"))
    hydra_version: str | None = field(default_factory=lambda: provenance.version_of("hydra-core"))
    # What the diagnostics callback found wrong with a layer, one line each (shown in the summary).
    findings: list[str] = field(default_factory=list)
    # Whatever else the task reports about its test (Seq2Seq: by_length, bleu_signature), written at
    # the top level of results.json.
    extras: dict[str, object] = field(default_factory=dict)
    # The number of the first epoch in this record; results.json files without it count from 0
    # (dlrun.epochs.recorded_epoch reads both).
    epoch_base: int = EPOCH_BASE

    def record_device(self, trainer: object) -> None:
        """Fill `device` and `device_name` from the Trainer that trained this run, and its threads."""
        import torch

        from dlrun.threads import wait_policy

        self.device, self.device_name = provenance.describe_device(trainer)
        choice = getattr(trainer, "thread_choice", None)  # dlrun's Trainer chooses when fitting starts
        self.torch_threads = choice.threads if choice else torch.get_num_threads()
        self.threads_reason = choice.reason if choice else None
        self.openmp_wait_policy = wait_policy()

    def write(self) -> Path:
        """Write atomically, so a reader never sees half a file (a sweep report may read it live).
        Only rank 0 of a distributed run writes."""
        path = Path(self.run_dir) / RESULTS_FILE
        if not is_rank_zero():
            return path
        tmp = path.with_suffix(".json.tmp")
        record = asdict(self)
        record.update(record.pop("extras"))
        tmp.write_text(json.dumps(record, indent=2, allow_nan=True) + "\n")
        os.replace(tmp, path)
        return path


def print_summary(result: RunResult) -> None:
    if not is_rank_zero():
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"dlrun: run {result.status}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")  # a path or command is folded onto the next line, never cut
    if result.best_value is not None:
        epoch = f" (epoch {result.best_epoch})" if result.best_epoch is not None else ""
        table.add_row(f"best {result.monitor}", f"{result.best_value:.4f}{epoch}")
    for name, value in result.test_metrics.items():
        references = [
            f"{baseline} {metrics[name]:.4f}" for baseline, metrics in result.baselines.items() if name in metrics
        ]
        table.add_row(name, f"{value:.4f}" + (f"  ({', '.join(references)})" if references else ""))
    if result.tested_on:
        table.add_row("tested on", f"{result.tested_on} weights")
    table.add_row("epochs", str(result.epochs))
    table.add_row("wall time", f"{result.wall_time_s:.1f} s")
    for i, finding in enumerate(result.findings):
        table.add_row("diagnostics" if i == 0 else "", finding)
    table.add_row("run dir", result.run_dir)
    for i, command in enumerate(result.look_at):
        table.add_row("look at it" if i == 0 else "", command)
    Console(soft_wrap=True).print(table)


def display_path(path: str | os.PathLike[str]) -> str:
    """`path` relative to the working directory, as a user would type it here."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return os.fspath(path)


def json_ready(value: Any) -> Any:
    """`value` with every mapping key a string and every leaf a JSON value: numbers of other kinds
    (numpy, torch scalars) become floats, anything else its str."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
