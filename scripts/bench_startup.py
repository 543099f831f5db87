"""Start-up cost: `dlrun train debug=fast` from the command to its exit, against the bare import of
what it needs (`python -c "import pytorch_lightning, hydra, torchmetrics"`), measured in one run.

The two are timed in alternating order, each in a fresh process, so both see the same state of a
noisy machine; the reported ratio is the median of the per-pair ratios, with their spread.

    python scripts/bench_startup.py [--repeats 7]

The last line is `ratio: X.XX` (dlrun's wall time / the imports'; the target is <= 1.2).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMPORTS = [sys.executable, "-c", "import pytorch_lightning, hydra, torchmetrics"]


def wall(command: list[str], cwd: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    ratios, trains, imports = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            train = [sys.executable, "-m", "dlrun", "train", "debug=fast", f"hydra.run.dir={Path(tmp) / str(repeat)}"]
            order = (train, IMPORTS) if repeat % 2 == 0 else (IMPORTS, train)
            seconds = {id(c): wall(c, tmp) for c in order}
            trains.append(seconds[id(train)])
            imports.append(seconds[id(IMPORTS)])
            ratios.append(trains[-1] / imports[-1])
            print(
                f"repeat {repeat + 1}: dlrun train debug=fast {trains[-1]:.2f} s, imports {imports[-1]:.2f} s, "
                f"ratio {ratios[-1]:.2f}",
                flush=True,
            )
    print(
        f"median: train {statistics.median(trains):.2f} s, imports {statistics.median(imports):.2f} s; "
        f"ratio median {statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f})"
    )
    print(f"ratio: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
