"""Training speed of dlrun's path against a plain hand-written PyTorch loop, measured in one run.

--model mlp (default): the same MLP (64-256-256-10) on the in-memory digits: batch 64, Adam (lr 1e-3),
gradient clipping by norm 1.0, the same number of steps.
--model seq2seq: the Seq2Seq model (GRU, hidden 128, Bahdanau attention) on 2,048 `reverse` pairs
(lengths 5 to 30), teacher-forced training steps of batch 64; the hand loop trains the same nn.Module on the
same bucketed batches with a token cross-entropy, so the ratio measures the framework. Beam-search
decoding throughput (sentences/s, beam 5) is printed as well.
--model lstm: an LSTM text classifier (embedding 64, LSTM 128, the last state, one logit) on
rotten_tomatoes: variable-length batches of 64, packed, Adam, clipping 1.0. Both sides train on the
same length-bucketed batches (the hand loop gets dlrun's batch indices), so a step costs the same
arithmetic on each side and the ratio measures the framework; the padding fraction with and
without bucketing is printed as well.

dlrun's side is a real run built from the packaged configs (task, metrics, logging, progress
lines, and the diagnostics callback with its packaged settings unless `--diagnostics off`);
validation and checkpoints are switched off because the hand loop has neither. Each repeat
runs the two back to back (in alternating order), so both see the same state of a noisy machine;
the reported ratio is the median of the per-repeat ratios, with their spread.

    python scripts/bench.py [--model mlp|lstm] [--epochs N] [--repeats 5] [--diagnostics on|off]

The last line is `ratio: X.XX` (dlrun steps/s divided by hand-loop steps/s).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time

import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from dlrun.config.compose import ConfigSource
from dlrun.config.location import config_dir
from dlrun.data.padding import bucketed_batches, padding_fraction
from dlrun.experiment import build_run

BATCH_SIZE = 64
LEARNING_RATE = 1e-3
CLIP_NORM = 1.0
HIDDEN = [256, 256]
EMBEDDING, LSTM_HIDDEN = 64, 128
MODEL_OVERRIDES = {
    "mlp": [f"model.hidden_sizes=[{HIDDEN[0]},{HIDDEN[1]}]"],
    "seq2seq": [
        "data=reverse",
        "data.max_length=30",
        "data.train_size=2048",
        "model=seq2seq",
        f"model.hidden_size={LSTM_HIDDEN}",
        "model.attention=bahdanau",
        "trainer.limit_test_batches=0",
    ],
    "lstm": [
        "data=rotten_tomatoes",
        "model=lstm",
        f"model.embedding_size={EMBEDDING}",
        f"model.hidden_size={LSTM_HIDDEN}",
        "trainer.limit_test_batches=0",
    ],
}


class LoopTimer(pl.Callback):
    """Times the training loop itself, from the first batch to the end, like the hand loop's timer."""

    def on_train_start(self, trainer, pl_module) -> None:
        self.started = time.perf_counter()

    def on_train_end(self, trainer, pl_module) -> None:
        self.seconds = time.perf_counter() - self.started


def packaged_diagnostics() -> str:
    """The override that adds the diagnostics callback as conf/callbacks/default.yaml configures it."""
    node = OmegaConf.load(config_dir() / "callbacks" / "default.yaml").diagnostics
    return "+callbacks.diagnostics={" + ", ".join(f"{key}: {value}" for key, value in node.items()) + "}"


def dlrun_steps_per_second(epochs: int, out_dir: str, model: str = "mlp", diagnostics: bool = True) -> float:
    overrides = MODEL_OVERRIDES[model] + ([packaged_diagnostics()] if diagnostics else []) + [
        f"trainer.max_epochs={epochs}",
        "trainer.limit_val_batches=0",
        f"trainer.gradient_clip_val={CLIP_NORM}",
        "trainer.accelerator=cpu",
        "callbacks=none",
        "+callbacks.progress={_target_: dlrun.callbacks.PlainProgress, line_interval_s: 30}",
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


class HandLSTM(nn.Module):
    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, EMBEDDING, padding_idx=0)
        self.lstm = nn.LSTM(EMBEDDING, LSTM_HIDDEN, batch_first=True)
        self.head = nn.Linear(LSTM_HIDDEN, 1)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(self.embedding(tokens), lengths, batch_first=True, enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)
        return self.head(h_n[-1]).squeeze(-1)


def hand_lstm_steps_per_second(epochs: int, train: dict[str, torch.Tensor], vocab_size: int, pool: int) -> float:
    torch.manual_seed(0)
    model = HandLSTM(vocab_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    steps = 0
    started = time.perf_counter()
    for _ in range(epochs):
        for index in bucketed_batches(train["lengths"], BATCH_SIZE, pool):
            lengths = train["lengths"][index]
            tokens = train["inputs"][index, : int(lengths.max())]
            logits = model(tokens, lengths)
            loss = nn.functional.binary_cross_entropy_with_logits(logits, train["targets"][index].float())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
            optimizer.step()
            steps += 1
    return steps / (time.perf_counter() - started)


def hand_seq2seq_steps_per_second(epochs: int, train: dict[str, torch.Tensor], spec, pool: int, fresh: nn.Module) -> float:
    torch.manual_seed(0)
    model = copy.deepcopy(fresh)  # the same module dlrun builds, untrained
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    steps = 0
    started = time.perf_counter()
    for _ in range(epochs):
        for index in bucketed_batches(train["source_lengths"], BATCH_SIZE, pool):
            source_lengths, target_lengths = train["source_lengths"][index], train["target_lengths"][index]
            source = train["source"][index, : int(source_lengths.max())]
            target_in = train["target_in"][index, : int(target_lengths.max())]
            target_out = train["target_out"][index, : int(target_lengths.max())]
            logits = model(source, source_lengths, target_in)
            loss = nn.functional.cross_entropy(logits.transpose(1, 2), target_out, ignore_index=spec.pad_id)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
            optimizer.step()
            steps += 1
    return steps / (time.perf_counter() - started)


def beam_sentences_per_second(run, beam_size: int = 5, sentences: int = 256) -> float:
    model = run.task.model.eval()
    test = run.datamodule.split("val")
    source, lengths = test["source"][:sentences], test["source_lengths"][:sentences]
    started = time.perf_counter()
    for start in range(0, len(source), 64):
        batch_lengths = lengths[start : start + 64]
        model.beam_search(source[start : start + 64, : int(batch_lengths.max())], batch_lengths, beam_size)
    return len(source) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODEL_OVERRIDES), default="mlp")
    parser.add_argument("--epochs", type=int, default=None, help="per repeat and side (mlp: 40, lstm: 1)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--diagnostics", choices=("on", "off"), default="on", help="dlrun's diagnostics callback")
    args = parser.parse_args()
    epochs = args.epochs or {"mlp": 40, "lstm": 1, "seq2seq": 1}[args.model]

    with tempfile.TemporaryDirectory() as tmp:
        cfg = ConfigSource().compose([*MODEL_OVERRIDES[args.model], f"hydra.run.dir={tmp}/data"])
        built = build_run(cfg)
        datamodule = built.datamodule
        train = datamodule.split("train")
        if args.model == "seq2seq":
            print(f"data: reverse train split, {len(train['source'])} pairs of lengths 5-30; {epochs} epoch(s) of batch {BATCH_SIZE}")  # noqa: E501
            pool, spec = datamodule.bucket_pool_batches, datamodule.spec
            hand_side = lambda n: hand_seq2seq_steps_per_second(n, train, spec, pool, built.task.model)  # noqa: E731
        elif args.model == "mlp":
            print(f"data: digits train split, {len(train['inputs'])} examples; {epochs} epochs of batch {BATCH_SIZE}")
            hand_side = lambda n: hand_steps_per_second(n, train["inputs"], train["targets"])  # noqa: E731
        else:
            pool = datamodule.bucket_pool_batches
            plain = list(torch.randperm(len(train["lengths"])).split(BATCH_SIZE))
            print(
                f"data: rotten_tomatoes train split, {len(train['inputs'])} texts; {epochs} epoch(s) of batch "
                f"{BATCH_SIZE}; padding {padding_fraction(train['lengths'], plain):.1%} of served steps "
                f"shuffled plainly, {padding_fraction(train['lengths'], bucketed_batches(train['lengths'], BATCH_SIZE, pool)):.1%} "
                f"bucketed (pools of {pool} batches)"
            )
            hand_side = lambda n: hand_lstm_steps_per_second(n, train, datamodule.spec.vocab_size, pool)  # noqa: E731
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, pytorch-lightning {pl.__version__}; "
              f"diagnostics {args.diagnostics}")
        warm_up = 2 if args.model == "mlp" else 1
        hand_side(warm_up)  # warm-up: first calls allocate and pick kernels
        diagnostics = args.diagnostics == "on"
        dlrun_steps_per_second(warm_up, f"{tmp}/warmup", args.model, diagnostics)
        hand, ours = [], []
        for repeat in range(args.repeats):
            pair = [
                lambda: hand.append(hand_side(epochs)),
                lambda: ours.append(dlrun_steps_per_second(epochs, f"{tmp}/run{repeat}", args.model, diagnostics)),
            ]
            for measure in pair if repeat % 2 == 0 else reversed(pair):
                measure()
            print(
                f"repeat {repeat + 1}: hand loop {hand[-1]:.3g} steps/s, dlrun {ours[-1]:.3g} steps/s, "
                f"ratio {ours[-1] / hand[-1]:.2f}"
            )
        if args.model == "seq2seq":
            print(f"beam search (beam 5, untrained model): {beam_sentences_per_second(built):.0f} sentences/s")
    ratios = sorted(o / h for o, h in zip(ours, hand))
    print(f"hand loop: {statistics.median(hand):.1f} steps/s (median of {args.repeats})")
    print(f"dlrun:     {statistics.median(ours):.1f} steps/s (median of {args.repeats})")
    print(f"ratios: {ratios[0]:.2f} to {ratios[-1]:.2f}")
    print(f"ratio: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
