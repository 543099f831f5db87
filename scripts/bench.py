"""Training speed of dlrun's path against a plain hand-written PyTorch loop, measured in one run.

--model mlp (default): the same MLP (64-256-256-10) on the in-memory digits: batch 64, Adam (lr 1e-3),
gradient clipping by norm 1.0, the same number of steps.
--model seq2seq: the Seq2Seq model (GRU, hidden 128, Bahdanau attention) on 2,048 `reverse` pairs
(lengths 5 to 30), teacher-forced training steps of batch 64; the hand loop trains the same nn.Module on the
same bucketed batches with a token cross-entropy, so the ratio measures the framework. Beam-search
decoding throughput (sentences/s, beam 5) is printed as well.
--model lstm: an LSTM text classifier (embedding 64, LSTM 128, the last state, one logit) on
rotten_tomatoes: variable-length batches of 64, packed, Adam, clipping 1.0. Both sides cut the same
kind of length-bucketed batches (dlrun.data.padding.bucketed_batches), so a step costs the same
arithmetic on each side and the ratio measures the framework; the padding fraction with and
without bucketing is printed as well.

dlrun's side is a real run built from the packaged configs (task, metrics, logging, progress
lines, and the diagnostics callback with its packaged settings unless `--diagnostics off`);
validation and checkpoints are switched off because the hand loop has neither. Each repeat is one
dlrun run whose training epochs alternate with the hand loop's: as each dlrun epoch starts, one
hand-loop epoch runs, and each side's clock runs only through its own segments (a 20-step MLP epoch
lasts about 25 ms). A shared machine's speed drifts by a third over seconds; segments this short see
the same state of it, so the repeats agree within a few percent where whole runs back to back
differ by a quarter. The reported ratio is the median of the per-repeat ratios, with their spread.

    python scripts/bench.py [--model mlp|lstm|seq2seq] [--epochs N] [--repeats N] [--diagnostics on|off]

The last line is `ratio: X.XX` (dlrun steps/s divided by hand-loop steps/s).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from collections.abc import Callable

import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from dlrun.building import build_run
from dlrun.config.compose import ConfigSource
from dlrun.config.location import config_dir
from dlrun.data.padding import bucketed_batches, padding_fraction

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


class Interleaved(pl.Callback):
    """Alternates the two sides epoch by epoch inside one dlrun run: as each of dlrun's training epochs
    starts, one epoch of the hand loop runs, and each side's clock runs only through its own segments.
    Insert it first in the Trainer's callbacks (its hand epoch then runs before any other callback's
    epoch start) and append its `stop` last (dlrun's time then ends after every callback's train end).
    """

    def __init__(self, hand: HandLoop) -> None:
        self.hand = hand
        self.stop = _StopClock(self)
        self.dlrun_seconds = self.hand_seconds = 0.0
        self.hand_steps = 0
        self._mark = 0.0

    def on_train_start(self, trainer, pl_module) -> None:
        self._mark = time.perf_counter()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        hand_started = time.perf_counter()
        self.dlrun_seconds += hand_started - self._mark
        self.hand_steps += self.hand.epoch()
        self._mark = time.perf_counter()
        self.hand_seconds += self._mark - hand_started

    def end_of_training(self) -> None:
        self.dlrun_seconds += time.perf_counter() - self._mark


class _StopClock(pl.Callback):
    def __init__(self, clock: Interleaved) -> None:
        self.clock = clock

    def on_train_end(self, trainer, pl_module) -> None:
        self.clock.end_of_training()


def packaged_diagnostics() -> str:
    """The override that adds the diagnostics callback as conf/callbacks/default.yaml configures it."""
    node = OmegaConf.load(config_dir() / "callbacks" / "default.yaml").diagnostics
    return "+callbacks.diagnostics={" + ", ".join(f"{key}: {value}" for key, value in node.items()) + "}"


def dlrun_run(epochs: int, out_dir: str, model: str, diagnostics: bool):
    """dlrun's side, built from the packaged configs as `dlrun train` builds it."""
    overrides = (
        MODEL_OVERRIDES[model]
        + ([packaged_diagnostics()] if diagnostics else [])
        + [
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
    )
    return build_run(ConfigSource().compose(overrides))


def interleaved_steps_per_second(run, hand: HandLoop) -> tuple[float, float]:
    """(dlrun steps/s, hand-loop steps/s) of one dlrun run with the hand loop's epochs between its own."""
    clock = Interleaved(hand)
    run.trainer.callbacks.insert(0, clock)
    run.trainer.callbacks.append(clock.stop)
    run.trainer.fit(run.task, datamodule=run.datamodule)
    return run.trainer.global_step / clock.dlrun_seconds, clock.hand_steps / clock.hand_seconds


def seeded(make_model: Callable[[], nn.Module]) -> nn.Module:
    """A hand-loop model initialized from seed 0, leaving the global random state as it was: the hand
    side is built after dlrun's run, which has seeded it for its own training."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return make_model()


class HandLoop:
    """The hand-written side: a plain PyTorch model trained with Adam and clipping, an epoch at a time.
    It shuffles with its own generator, so it leaves dlrun's random numbers alone."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
        self.generator = torch.Generator().manual_seed(0)

    def epoch(self) -> int:
        """Train one epoch; the number of optimizer steps taken."""
        raise NotImplementedError


class HandMLP(HandLoop):
    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor) -> None:
        super().__init__(seeded(lambda: self.network(inputs[0].numel())))
        self.inputs, self.targets = inputs, targets

    @staticmethod
    def network(in_features: int) -> nn.Module:
        widths = [in_features, *HIDDEN]
        layers: list[nn.Module] = [nn.Flatten()]
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(widths[-1], 10))

    def epoch(self) -> int:
        model, optimizer, inputs, targets = self.model, self.optimizer, self.inputs, self.targets
        steps = 0
        order = torch.randperm(len(inputs), generator=self.generator)
        for start in range(0, len(inputs), BATCH_SIZE):
            index = order[start : start + BATCH_SIZE]
            loss = nn.functional.cross_entropy(model(inputs[index]), targets[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
            optimizer.step()
            steps += 1
        return steps


class LSTMClassifier(nn.Module):
    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, EMBEDDING, padding_idx=0)
        self.lstm = nn.LSTM(EMBEDDING, LSTM_HIDDEN, batch_first=True)
        self.head = nn.Linear(LSTM_HIDDEN, 1)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(self.embedding(tokens), lengths, batch_first=True, enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)
        return self.head(h_n[-1]).squeeze(-1)


class HandLSTM(HandLoop):
    def __init__(self, train: dict[str, torch.Tensor], vocab_size: int, pool: int) -> None:
        super().__init__(seeded(lambda: LSTMClassifier(vocab_size)))
        self.train, self.pool = train, pool

    def epoch(self) -> int:
        model, optimizer, train = self.model, self.optimizer, self.train
        steps = 0
        for index in bucketed_batches(train["lengths"], BATCH_SIZE, self.pool, generator=self.generator):
            lengths = train["lengths"][index]
            tokens = train["inputs"][index, : int(lengths.max())]
            logits = model(tokens, lengths)
            loss = nn.functional.binary_cross_entropy_with_logits(logits, train["targets"][index].float())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
            optimizer.step()
            steps += 1
        return steps


class HandSeq2seq(HandLoop):
    def __init__(self, train: dict[str, torch.Tensor], pad_id: int, pool: int, fresh: nn.Module) -> None:
        super().__init__(copy.deepcopy(fresh))  # the same module dlrun builds, untrained
        self.train, self.pad_id, self.pool = train, pad_id, pool

    def epoch(self) -> int:
        model, optimizer, train = self.model, self.optimizer, self.train
        steps = 0
        for index in bucketed_batches(train["source_lengths"], BATCH_SIZE, self.pool, generator=self.generator):
            source_lengths, target_lengths = train["source_lengths"][index], train["target_lengths"][index]
            source = train["source"][index, : int(source_lengths.max())]
            target_in = train["target_in"][index, : int(target_lengths.max())]
            target_out = train["target_out"][index, : int(target_lengths.max())]
            logits = model(source, source_lengths, target_in)
            loss = nn.functional.cross_entropy(logits.transpose(1, 2), target_out, ignore_index=self.pad_id)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
            optimizer.step()
            steps += 1
        return steps


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
    parser.add_argument("--epochs", type=int, default=None, help="per repeat and side (mlp: 40, others: 1)")
    parser.add_argument("--repeats", type=int, default=None, help="dlrun runs (mlp: 11, others: 5)")
    parser.add_argument("--diagnostics", choices=("on", "off"), default="on", help="dlrun's diagnostics callback")
    args = parser.parse_args()
    epochs = args.epochs or {"mlp": 40, "lstm": 1, "seq2seq": 1}[args.model]
    repeats = args.repeats or (11 if args.model == "mlp" else 5)

    with tempfile.TemporaryDirectory() as tmp:
        cfg = ConfigSource().compose([*MODEL_OVERRIDES[args.model], f"hydra.run.dir={tmp}/data"])
        built = build_run(cfg)
        datamodule = built.datamodule
        train = datamodule.split("train")
        if args.model == "seq2seq":
            print(
                f"data: reverse train split, {len(train['source'])} pairs of lengths 5-30; {epochs} epoch(s) of batch {BATCH_SIZE}"
            )  # noqa: E501
            pool, spec = datamodule.bucket_pool_batches, datamodule.spec
            hand = lambda: HandSeq2seq(train, spec.pad_id, pool, built.task.model)  # noqa: E731
        elif args.model == "mlp":
            print(f"data: digits train split, {len(train['inputs'])} examples; {epochs} epochs of batch {BATCH_SIZE}")
            hand = lambda: HandMLP(train["inputs"], train["targets"])  # noqa: E731
        else:
            pool = datamodule.bucket_pool_batches
            plain = list(torch.randperm(len(train["lengths"])).split(BATCH_SIZE))
            print(
                f"data: rotten_tomatoes train split, {len(train['inputs'])} texts; {epochs} epoch(s) of batch "
                f"{BATCH_SIZE}; padding {padding_fraction(train['lengths'], plain):.1%} of served steps "
                f"shuffled plainly, {padding_fraction(train['lengths'], bucketed_batches(train['lengths'], BATCH_SIZE, pool)):.1%} "
                f"bucketed (pools of {pool} batches)"
            )
            hand = lambda: HandLSTM(train, datamodule.spec.vocab_size, pool)  # noqa: E731
        print(
            f"torch {torch.__version__}, {torch.get_num_threads()} threads, pytorch-lightning {pl.__version__}; "
            f"diagnostics {args.diagnostics}"
        )
        warm_up = 2 if args.model == "mlp" else 1  # first calls allocate and pick kernels
        diagnostics = args.diagnostics == "on"
        interleaved_steps_per_second(dlrun_run(warm_up, f"{tmp}/warmup", args.model, diagnostics), hand())
        hand_rates, ours = [], []
        for repeat in range(repeats):
            run = dlrun_run(epochs, f"{tmp}/run{repeat}", args.model, diagnostics)
            dlrun_rate, hand_rate = interleaved_steps_per_second(run, hand())
            ours.append(dlrun_rate)
            hand_rates.append(hand_rate)
            print(
                f"repeat {repeat + 1}: hand loop {hand_rate:.3g} steps/s, dlrun {dlrun_rate:.3g} steps/s, "
                f"ratio {dlrun_rate / hand_rate:.2f}"
            )
        if args.model == "seq2seq":
            print(f"beam search (beam 5, untrained model): {beam_sentences_per_second(built):.0f} sentences/s")
    ratios = sorted(o / h for o, h in zip(ours, hand_rates))
    print(f"hand loop: {statistics.median(hand_rates):.1f} steps/s (median of {repeats})")
    print(f"dlrun:     {statistics.median(ours):.1f} steps/s (median of {repeats})")
    print(f"ratios: {ratios[0]:.2f} to {ratios[-1]:.2f}")
    print(f"ratio: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
