"""Training speed of dlrun's path against a plain hand-written PyTorch loop, measured in one run.

Both train the same MLP (64-256-256-10) on the same in-memory digits data: batch 64, Adam (lr 1e-3),
gradient clipping by norm 1.0, the same number of steps. dlrun's side is a real run built from the
packaged configs (task, metrics, TensorBoard logging, progress lines); validation and checkpoints
are switched off because the hand loop has neither. Each repeat runs the two back to back (in
alternating order), so both see the same state of a noisy machine; the reported ratio is the median
of the per-repeat ratios.

    python scripts/bench.py [--epochs 40] [--repeats 5]

The last line is `ratio: X.XX` (dlrun steps/s divided by hand-loop steps/s).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import pytorch_lightning as pl
import torch
from torch import nn

from dlrun.config.compose import ConfigSource
from dlrun.experiment import build_run

BATCH_SIZE = 64
LEARNING_RATE = 1e-3
CLIP_NORM = 1.0
HIDDEN = [256, 256]


class LoopTimer(pl.Callback):
    """Times the training loop itself, from the first batch to the end, like the hand loop's timer."""

    def on_train_start(self, trainer, pl_module) -> None:
        self.started = time.perf_counter()

    def on_train_end(self, trainer, pl_module) -> None:
        self.seconds = time.perf_counter() - self.started


def dlrun_steps_per_second(epochs: int, out_dir: str) -> float:
    overrides = [
        f"trainer.max_epochs={epochs}",
        "trainer.limit_val_batches=0",
        f"trainer.gradient_clip_val={CLIP_NORM}",
        "trainer.accelerator=cpu",
        "callbacks=none",
        "+callbacks.progress={_target_: dlrun.callbacks.PlainProgress, line_interval_s: 30}",
        f"model.hidden_sizes=[{HIDDEN[0]},{HIDDEN[1]}]",
        "optimizer=adam",
        f"optimizer.lr={LEARNING_RATE}",
        f"data.batch_size={BATCH_SIZE}",
        f"hydra.run.dir={out_dir}",
    ]
    cfg = ConfigSource().compose(overrides)
    run = build_run(cfg)
    timer = LoopTimer()
    run.trainer.callbacks.append(timer)
    run.trainer.fit(run.task, datamodule=run.datamodule)
    return run.trainer.global_step / timer.seconds


def hand_steps_per_second(epochs: int, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    torch.manual_seed(0)
    widths = [inputs[0].numel(), *HIDDEN]
    layers: list[nn.Module] = [nn.Flatten()]
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(widths[-1], 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    steps = 0
    started = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(inputs))
        for start in range(0, len(inputs), BATCH_SIZE):
            index = order[start : start + BATCH_SIZE]
            loss = nn.functional.cross_entropy(model(inputs[index]), targets[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
            optimizer.step()
            steps += 1
    return steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        train = build_run(ConfigSource().compose([f"hydra.run.dir={tmp}/data"])).datamodule.split("train")
        inputs, targets = train["inputs"], train["targets"]
        print(f"data: digits train split, {len(inputs)} examples; {args.epochs} epochs of batch {BATCH_SIZE}")
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, pytorch-lightning {pl.__version__}")
        hand_steps_per_second(2, inputs, targets)  # warm-up: first calls allocate and pick kernels
        dlrun_steps_per_second(2, f"{tmp}/warmup")
        hand, ours = [], []
        for repeat in range(args.repeats):
            pair = [
                lambda: hand.append(hand_steps_per_second(args.epochs, inputs, targets)),
                lambda: ours.append(dlrun_steps_per_second(args.epochs, f"{tmp}/run{repeat}")),
            ]
            for measure in pair if repeat % 2 == 0 else reversed(pair):
                measure()
            print(
                f"repeat {repeat + 1}: hand loop {hand[-1]:.0f} steps/s, dlrun {ours[-1]:.0f} steps/s, "
                f"ratio {ours[-1] / hand[-1]:.2f}"
            )
    print(f"hand loop: {statistics.median(hand):.0f} steps/s (median of {args.repeats})")
    print(f"dlrun:     {statistics.median(ours):.0f} steps/s (median of {args.repeats})")
    print(f"ratio: {statistics.median(o / h for o, h in zip(ours, hand)):.2f}")

if __name__ == "__main__":
    main()
