"""Transfer learning on Fashion-MNIST, end to end with the dlrun command line.

Pretrains a CNN on classes 0-4, then learns classes 5-9 three ways, each time with a new dense
head: from scratch, fine-tuning the pretrained convolutions (at a tenth of the learning rate), and
as a feature extractor (pretrained convolutions frozen, only the head trains). It does so twice: with the full training set for a few
epochs, and with a budget of only a few steps, where what the pretrained layers already know matters
most. Every run is a normal dlrun run under --out; the tables come from their results.json files.

    python scripts/transfer_demo.py [--data fashion_mnist] [--epochs 2] [--few-steps 20] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

FIRST, SECOND = "[0,1,2,3,4]", "[5,6,7,8,9]"


def dlrun(*overrides: str) -> dict:
    print("$ dlrun train " + " ".join(shlex.quote(o) for o in overrides), flush=True)
    subprocess.run([sys.executable, "-m", "dlrun", "train", *overrides], check=True, stdout=subprocess.DEVNULL)
    run_dir = Path(next(o for o in overrides if o.startswith("hydra.run.dir=")).split("=", 1)[1])
    return json.loads((run_dir / "results.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="fashion_mnist", help="fashion_mnist, or fashion_mnist_small")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the pretraining and full-data runs")
    parser.add_argument("--few-steps", type=int, default=20, help="optimizer steps of the small-budget runs")
    parser.add_argument("--out", type=Path, default=Path("outputs/transfer_demo"))
    args = parser.parse_args()
    if args.out.exists():
        sys.exit(f"{args.out} exists; choose another --out (dlrun never writes into an earlier run).")

    common = ["model=cnn", f"data={args.data}", "task_name=transfer_demo"]
    pretrain = args.out / "pretrain_0-4"
    dlrun(*common, f"trainer.max_epochs={args.epochs}", f"data.classes={FIRST}", f"hydra.run.dir={pretrain}")
    # The convolutions carry over; the dense head starts afresh, since classes 5-9 are new ones.
    reuse = [f"transfer.pretrained={pretrain}", "transfer.skip=[head]"]
    starts = {  # label: (run dir name, overrides)
        "from scratch": ("scratch", []),
        "fine-tune all (lr x0.1)": ("fine_tune", [*reuse, "transfer.lr_scale=0.1"]),
        "frozen features": ("frozen", [*reuse, "transfer.freeze=[features]"]),
    }
    budgets = {
        f"all training images, {args.epochs} epochs": ("full", [f"trainer.max_epochs={args.epochs}"]),
        f"{args.few_steps} steps of 64 images": (
            "few",
            ["trainer.max_epochs=1", f"trainer.limit_train_batches={args.few_steps}"],
        ),
    }
    for budget, (budget_dir, budget_overrides) in budgets.items():
        rows = []
        for label, (start_dir, start_overrides) in starts.items():
            run_dir = args.out / f"{budget_dir}_{start_dir}"
            result = dlrun(
                *common, f"data.classes={SECOND}", *budget_overrides, *start_overrides, f"hydra.run.dir={run_dir}"
            )
            rows.append((label, result))
        print(f"\nclasses 5-9 of {args.data}, {budget}")
        print(f"{'start':<26}{'test acc':>10}{'wall time':>11}")
        for label, result in rows:
            print(f"{label:<26}{result['test_metrics']['test/acc']:>10.4f}{result['wall_time_s']:>10.1f}s")
        print(flush=True)


if __name__ == "__main__":
    main()
