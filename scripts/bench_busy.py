"""dlrun's default threading against the best fixed setting, on an idle machine and a busy one.

Each case is a real `dlrun train` through the CLI with no logger and no early stopping; its time is
the run's own `wall_time_s` from results.json (building, training and testing, not the imports, which
no thread setting changes). The settings are torch's intra-op threads (1, or every core) times
OpenMP's waiting (ACTIVE, spinning; PASSIVE, sleeping), set through OMP_NUM_THREADS and
OMP_WAIT_POLICY, against dlrun's default (no variable set: dlrun's own choice). "Busy" is one process
spinning on one core, started and stopped by this script.

The cells are interleaved: each repeat runs every case under every setting, in a shuffled order, once
idle and once busy, so every setting sees the same drift of a shared machine. A cell's time is the
median over the repeats; the ratio is the default's time to the best fixed setting's in the same cell.

    python scripts/bench_busy.py [--repeats 3]

The last line is `worst: X.XX`, the largest such ratio over all cells (the target is at most 1.10),
after each case's busy/idle slowdown of the default (the target is at most 1.5).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

QUIET = ["logger=none", "callbacks.early_stopping=null"]
CASES = {
    "MLP (digits)": ["trainer.max_epochs=20"],
    "LSTM (rotten_tomatoes)": ["data=rotten_tomatoes", "model=lstm", "trainer.max_epochs=1"],
    "LeNet-5 (fashion_mnist_small)": ["data=fashion_mnist_small", "model=lenet5", "trainer.max_epochs=2"],
}
DEFAULT = "dlrun default"


def settings(cores: int) -> dict[str, dict[str, str]]:
    fixed = {
        f"{threads} thread{'s' if threads > 1 else ''}, {policy.lower()}": {
            "OMP_NUM_THREADS": str(threads),
            "OMP_WAIT_POLICY": policy,
        }
        for threads in sorted({1, cores})
        for policy in ("ACTIVE", "PASSIVE")
    }
    return {DEFAULT: {}, **fixed}


def run_seconds(case: list[str], variables: dict[str, str], where: Path) -> tuple[float, int]:
    """The run's wall time and the torch threads it computed with."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS")}
    env.update(variables)
    run_dir = Path(tempfile.mkdtemp(dir=where))
    command = [sys.executable, "-m", "dlrun", "train", *case, *QUIET, f"hydra.run.dir={run_dir}"]
    subprocess.run(command, env=env, cwd=where, check=True, capture_output=True)
    result = json.loads((run_dir / "results.json").read_text())
    return float(result["wall_time_s"]), int(result["torch_threads"])


def _spin() -> None:
    while True:
        pass


@contextmanager
def load(busy: bool):
    """One process spinning on one core while the block runs, when `busy`."""
    if not busy:
        yield
        return
    spinner = multiprocessing.Process(target=_spin, daemon=True)
    spinner.start()
    try:
        yield
    finally:
        spinner.terminate()
        spinner.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    chosen = settings(cores)
    times: dict[tuple[str, str, str], list[float]] = {}
    chosen_threads: dict[tuple[str, str], list[int]] = {}  # what the default chose, per case and machine
    order = random.Random(0)
    with tempfile.TemporaryDirectory(prefix="bench-busy-") as tmp:
        where = Path(tmp)
        for repeat in range(args.repeats):
            for machine in ("idle", "busy"):
                cells = [(case, name) for case in CASES for name in chosen]
                order.shuffle(cells)
                with load(machine == "busy"):
                    for case, name in cells:
                        seconds, threads = run_seconds(CASES[case], chosen[name], where)
                        times.setdefault((case, machine, name), []).append(seconds)
                        if name == DEFAULT:
                            chosen_threads.setdefault((case, machine), []).append(threads)
            print(f"repeat {repeat + 1}/{args.repeats} done", file=sys.stderr, flush=True)

    worst = 0.0
    for case in CASES:
        print(f"\n{case}")
        for machine in ("idle", "busy"):
            medians = {name: statistics.median(times[(case, machine, name)]) for name in chosen}
            best_name = min((n for n in chosen if n != DEFAULT), key=medians.__getitem__)
            ratio = medians[DEFAULT] / medians[best_name]
            worst = max(worst, ratio)
            spread = {n: f"{min(times[(case, machine, n)]):.2f}-{max(times[(case, machine, n)]):.2f}" for n in chosen}
            cells = "  ".join(f"{n}: {medians[n]:.2f} s ({spread[n]})" for n in chosen)
            print(f"  {machine}: {cells}")
            picks = ", ".join(str(t) for t in chosen_threads[(case, machine)])
            print(f"  {machine}: default / best ({best_name}) = {ratio:.2f}; the default took threads {picks}")
        slowdown = statistics.median(times[(case, "busy", DEFAULT)]) / statistics.median(times[(case, "idle", DEFAULT)])
        print(f"  busy / idle, default: {slowdown:.2f}")
    print(f"worst: {worst:.2f}")


if __name__ == "__main__":
    main()
