"""Why attention: exact match per source length on `reverse` for every attention type, in one table.

    python scripts/attention_lesson.py [--attention none bahdanau luong_general] [--epochs 10]

Each arm is `dlrun train experiment=reverse_bahdanau model.attention=NAME` (training and evaluation
lengths 5 to 50; see conf/experiment/reverse_bahdanau.yaml), run in a subprocess one after the
other with one torch thread; run dirs go under outputs/attention_lesson/. The table gives test exact
match per bucket of source length from each run's results.json (`by_length`), then overall token
accuracy, BLEU and wall time. Expected shape (Bahdanau et al. 2015, Fig. 2): the attention models
stay near perfect at the longest lengths, while the fixed context vector (`none`) learns short
inputs and fails on long ones.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ATTENTION = ("none", "bahdanau", "luong_dot", "luong_general", "luong_concat")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attention", nargs="+", choices=ATTENTION, default=list(ATTENTION))
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    root = Path("outputs/attention_lesson") / time.strftime("%Y-%m-%d_%H-%M-%S")
    results = {}
    for attention in args.attention:
        run_dir = root / attention
        command = [
            "train",
            "experiment=reverse_bahdanau",
            f"model.attention={attention}",
            f"trainer.max_epochs={args.epochs}",
            f"task_name=reverse_{attention}",
            f"hydra.run.dir={run_dir}",
        ]
        print(f"$ dlrun {' '.join(command)}", flush=True)
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        done = subprocess.run([sys.executable, "-m", "dlrun", *command], env=env)
        if done.returncode == 0:
            results[attention] = json.loads((run_dir / "results.json").read_text())
        else:
            print(f"{attention}: failed (exit {done.returncode})", flush=True)

    if not results:
        sys.exit(1)
    buckets = list(next(iter(results.values()))["by_length"])
    header = f"{'attention':<15}" + "".join(f"{b:>9}" for b in buckets) + f"{'token acc':>11}{'BLEU':>7}{'time':>8}"
    print("\ntest exact match by source length\n" + header)
    for attention, result in results.items():
        cells = "".join(f"{result['by_length'].get(b, {}).get('exact_match', float('nan')):>9.3f}" for b in buckets)
        metrics = result["test_metrics"]
        print(
            f"{attention:<15}{cells}{metrics['test/token_acc']:>11.3f}{metrics['test/bleu']:>7.1f}"
            f"{result['wall_time_s'] / 60:>7.1f}m"
        )
    sys.exit(0 if len(results) == len(args.attention) else 1)


if __name__ == "__main__":
    main()
