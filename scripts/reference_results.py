"""The reference results in the README, one dlrun command each, checked against their targets.

    python scripts/reference_results.py [digits_mlp fashion_lenet5 fashion_resnet]

Each experiment is a preset in conf/experiment/; its run dir goes under outputs/reference/. The
table at the end gives test accuracy, its target, epochs and wall time, from each run's
results.json. The Fashion-MNIST ones need the full data set (scripts/setup.sh installs it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

TARGETS = {"digits_mlp": 0.97, "fashion_lenet5": 0.90, "fashion_resnet": 0.92}


def main() -> None:
    chosen = sys.argv[1:] or list(TARGETS)
    unknown = set(chosen) - set(TARGETS)
    if unknown:
        sys.exit(f"unknown experiment(s) {sorted(unknown)}; choose from {list(TARGETS)}")
    root = Path("outputs/reference") / time.strftime("%Y-%m-%d_%H-%M-%S")
    rows = []
    for name in chosen:
        run_dir = root / name
        print(f"$ dlrun train experiment={name} hydra.run.dir={run_dir}", flush=True)
        subprocess.run(
            [sys.executable, "-m", "dlrun", "train", f"experiment={name}", f"hydra.run.dir={run_dir}"], check=True
        )
        result = json.loads((run_dir / "results.json").read_text())
        rows.append((name, result["test_metrics"]["test/acc"], TARGETS[name], result["epochs"], result["wall_time_s"]))

    print(f"\n{'experiment':<16}{'test acc':>9}{'target':>8}{'epochs':>8}{'wall time':>11}")
    for name, acc, target, epochs, seconds in rows:
        verdict = "" if acc >= target else "  (below target)"
        print(f"{name:<16}{acc:>9.4f}{target:>8.2f}{epochs:>8}{seconds:>10.0f}s{verdict}")


if __name__ == "__main__":
    main()
