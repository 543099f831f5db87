"""Transfer learning on Fashion-MNIST, end to end with the dlrun command line.

Pretrains a CNN on classes 0-4, then learns classes 5-9 three ways: from scratch, fine-tuning all
pretrained layers (at a tenth of the learning rate), and as a feature extractor (pretrained
convolutions frozen, only the head trains). Every run is a normal dlrun run under --out, and the
table at the end comes from their results.json files.

    python scripts/transfer_demo.py [--data fashion_mnist] [--epochs 2] [--out outputs/transfer_demo]
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

FIRST, SECOND = "[0,1,2,3,4]", "[5,6,7,8,9]"


def dlrun(*overrides: str) -> None:
    command = [sys.executable, "-m", "dlrun", "train", *overrides]
    print("$ dlrun train " + " ".join(shlex.quote(o) for o in overrides), flush=True)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="fashion_mnist", help="fashion_mnist, or fashion_mnist_small")
    parser.add_argument("--epochs", type=int, default=2, help="epochs for each of the four runs")
    parser.add_argument("--out", type=Path, default=Path("outputs/transfer_demo"))
    args = parser.parse_args()
    if args.out.exists():
        sys.exit(f"{args.out} exists; choose another --out (dlrun never writes into an earlier run).")

    common = ["model=cnn", f"data={args.data}", f"trainer.max_epochs={args.epochs}", "task_name=transfer_demo"]
    pretrain = args.out / "pretrain_0-4"
    dlrun(*common, f"data.classes={FIRST}", f"hydra.run.dir={pretrain}")
    runs = {
        "from scratch": [],
        "fine-tune all (lr x0.1)": [f"model.pretrained={pretrain}", "model.pretrained_lr_scale=0.1"],
        "frozen features": [f"model.pretrained={pretrain}", "model.freeze=[features]"],
    }
    results = {}
    for name, extra in runs.items():
        run_dir = args.out / name.split(" ")[0].replace("-", "_")
        dlrun(*common, f"data.classes={SECOND}", *extra, f"hydra.run.dir={run_dir}")
        results[name] = json.loads((run_dir / "results.json").read_text())

    print(f"\nclasses 5-9 of {args.data}, {args.epochs} epochs each")
    print(f"{'start':<26}{'test acc':>10}{'best val loss':>15}{'wall time':>11}")
    for name, result in results.items():
        acc = result["test_metrics"]["test/acc"]
        print(f"{name:<26}{acc:>10.4f}{result['best_value']:>15.4f}{result['wall_time_s']:>10.1f}s")


if __name__ == "__main__":
    main()
