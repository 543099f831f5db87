"""A sweep of 8 tiny runs on this machine: one job at a time (Hydra's basic launcher, torch on every
core) against 2 jobs at once (`hydra/launcher=joblib hydra.launcher.n_jobs=2`, torch threads split
between them), measured in one run.

Each repeat runs both sweeps back to back through the CLI, as a user would, in alternating order,
so both see the same state of a noisy machine; the reported speedup is the median of the
per-repeat ratios (serial wall time / parallel wall time), with their spread. The 8 runs are
digits MLPs (hidden 64, 8 epochs unless --epochs, no logger) with learning rates 1e-3 ... 8e-3.

    python scripts/bench_sweep.py [--repeats 3] [--epochs 8]

The last line is `speedup: X.XX` (the target is >= 1.7 on 2 cores). Every sweep first pays a fixed
start (the main process's imports and checks; with 2 jobs, the workers' own imports on the same two
cores), so the speedup grows with the length of each run: `--epochs` shows by how much.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = ["optimizer.lr=" + ",".join(f"{k}e-3" for k in range(1, 9))]
TINY = ["model.hidden_sizes=[64]", "logger=none", "callbacks.early_stopping=null"]
PARALLEL = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]


def sweep(extra: list[str], where: Path, epochs: int) -> float:
    """Wall seconds of one `dlrun train -m` of the 8 runs; fails loudly if any job failed."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    command = [
        sys.executable,
        "-m",
        "dlrun",
        "train",
        "-m",
        *RUNS,
        *TINY,
        f"trainer.max_epochs={epochs}",
        *extra,
        f"hydra.sweep.dir={where}",
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"sweep failed ({' '.join(command)}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8, help="of each run (8: about 0.4 s of training)")
    args = parser.parse_args()
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            order = ("serial", "parallel") if repeat % 2 == 0 else ("parallel", "serial")
            seconds = {}
            for side in order:
                extra = PARALLEL if side == "parallel" else []
                seconds[side] = sweep(extra, Path(tmp) / f"{side}{repeat}", args.epochs)
            ratios.append(seconds["serial"] / seconds["parallel"])
            print(
                f"repeat {repeat + 1}: serial {seconds['serial']:.1f} s, 2 jobs {seconds['parallel']:.1f} s, "
                f"speedup {ratios[-1]:.2f}",
                flush=True,
            )
    print(
        f"cores: {len(os.sched_getaffinity(0))}; speedup median {statistics.median(ratios):.2f} "
        f"(min {min(ratios):.2f}, max {max(ratios):.2f}, {len(ratios)} repeats)"
    )
    print(f"speedup: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
