"""dlrun side by side with what a user would otherwise run: plain Lightning, Keras 3 and a hand loop.

Three cases, each the same model on the same tensors on every side, with the same batch size
(the data's `batch_size`; `eval_batch_size` for validation and test), optimizer (Adam, lr 1e-3),
gradient clipping (global norm 1.0, dlrun's default `trainer.gradient_clip_val`), epochs and seed:
the digits MLP (20 epochs), LeNet-5 on fashion_mnist_small (3 epochs) and the BiLSTM on
rotten_tomatoes (1 epoch). Every side trains on the CPU, validates after every epoch, and tests the
weights of its best epoch by validation loss.

- dlrun: a real run as `dlrun train` makes it (ConfigSource().compose, then
  dlrun.fit_and_test.run_experiment): the packaged callbacks (checkpoints every epoch, the
  confusion matrix every 10 epochs and after testing, diagnostics, ...) and TensorBoard logging,
  with early stopping off (the same epochs everywhere), the progress display off (a line per epoch
  would flood the report), `trainer.accelerator=cpu`, and one callback more, FitClock (below). Its
  torch threads are its own choice (`trainer.threads: auto`).
- lightning: what lightning-hydra-template does: a LightningModule around the same nn.Module
  (built by dlrun.building.build_task from the same seed, so it starts from the same weights),
  DataLoaders over TensorDatasets of dlrun's own tensors (shuffle=True), automatic optimization,
  epoch-level train/val loss and torchmetrics Accuracy, a TensorBoardLogger, ModelCheckpoint on
  val/loss and `trainer.test(ckpt_path="best")`.
- keras: Keras 3 `model.fit` on the torch backend, with the equivalent architecture written in
  native Keras layers (Keras' own initializers, so not the same starting weights; images
  channels-last, as Keras has them; on the CPU its torch backend runs an LSTM as a Python loop
  over the steps), a ModelCheckpoint of the best val_loss, then `evaluate`. Keras is no dependency of dlrun: the
  script installs it on first use into ~/.cache/dlrun-bench/keras (pip --target) and appends that
  directory to the end of sys.path, so the virtualenv's numpy and torch win. Where it cannot be
  installed or run, the report says why and leaves its column out.
- hand loop: the floor: the same nn.Module from the same seed, in-memory tensors, randperm
  batches, Adam, clip_grad_norm_, a validation pass per epoch and the best epoch's weights kept
  in memory.

The peers reset torch to this process's default threads before each of their runs, as their users
would have them. Text batches differ by side, and that is a real difference, not hidden: dlrun cuts
each batch to its longest text and buckets texts of similar length together
(`data.bucket_pool_batches`); the plain DataLoader serves every text padded to the data's full
length (60 tokens) and Keras masks that padding step by step (Embedding mask_zero); the hand loop
cuts each randperm batch to its longest text. The torch sides pack the sequences, so padding costs
them little arithmetic, but shorter, fuller batches take fewer sequential LSTM steps; the case's
header prints the padded share of each kind of batch.

Measured, per side: training steps/s, the optimizer steps taken over the seconds of the training
epochs (their validation passes included): for the Lightning sides from the on_train_start hook to
on_train_end, read by a callback (FitClock, added to dlrun's run as one more config callback)
that also reads the optimizer steps from `trainer.global_step`; for Keras from on_train_begin to
on_train_end, with `optimizer.iterations`; for the hand loop its epoch loop. Wall time: from the
side's first line (composing the config, for dlrun) to its test accuracy in hand, so building,
fitting and testing; each side loads its data through dlrun's data module, so data loading costs
every side the same. And test accuracy.

The machine is shared and noisy, so the sides are interleaved in short segments: each repeat runs
every side of a case once, in an order shuffled by random.Random(0), the cases in turn, after an
untimed warm-up round of one epoch each (the first runs in a process pay for lazy imports). Repeat r trains every side with seed r, so the accuracy spread is the
seed's. Each figure is the median over the repeats with its min-max spread, and the ratios of
dlrun's steps/s to each peer's are taken per repeat before their median.

    python scripts/bench_peers.py [--cases mlp,lenet5,bilstm] [--repeats 5] [--epochs-scale 1.0]
                                  [--no-keras] [--no-warmup]

The last line is `dlrun/lightning: X.XX`, the smallest over the cases of the median ratio of
dlrun's training steps/s to plain Lightning's.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import TensorBoardLogger
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics.classification import Accuracy

from dlrun.building import build_data, build_task, quiet_lightning
from dlrun.config.compose import ConfigSource
from dlrun.data.loader import Batch
from dlrun.data.padding import bucketed_batches, padding_fraction
from dlrun.data.spec import DataSpec
from dlrun.fit_and_test import run_experiment
from dlrun.results import RunResult

KERAS_DIR = Path.home() / ".cache" / "dlrun-bench" / "keras"
# torch's threads as this process started, read before any dlrun run sets its own: the peers get
# these, as their users would.
TORCH_THREADS = torch.get_num_threads()
SIDES = ("dlrun", "lightning", "keras", "hand loop")


@dataclass(frozen=True)
class Case:
    title: str
    overrides: list[str]
    epochs: int


CASES = {
    "mlp": Case("MLP on digits", [], 20),
    "lenet5": Case("LeNet-5 on fashion_mnist_small", ["data=fashion_mnist_small", "model=lenet5"], 3),
    "bilstm": Case("BiLSTM on rotten_tomatoes", ["data=rotten_tomatoes", "model=bilstm"], 1),
}


@dataclass(frozen=True)
class Measurement:
    steps: int  # optimizer steps taken in fit
    fit_seconds: float  # the training epochs, their validation included
    wall_seconds: float  # building, fitting and testing
    test_accuracy: float
    threads: str  # torch's threads in the fit, and why

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.fit_seconds


@dataclass(frozen=True)
class Settings:
    """One case's run as every side trains it: dlrun's composed config (the peers build their data and
    model from it and read their hyperparameters from it, so they train as dlrun does) and its overrides."""

    cfg: DictConfig
    overrides: list[str]

    @property
    def seed(self) -> int:
        return int(self.cfg.seed)

    @property
    def epochs(self) -> int:
        return int(self.cfg.trainer.max_epochs)

    @property
    def batch_size(self) -> int:
        return int(self.cfg.data.batch_size)

    @property
    def eval_batch_size(self) -> int:
        return int(self.cfg.data.eval_batch_size)

    @property
    def learning_rate(self) -> float:
        return float(self.cfg.optimizer.lr)

    @property
    def clip_norm(self) -> float:
        return float(self.cfg.trainer.gradient_clip_val)


def case_settings(case: Case, seed: int, epochs: int, run_dir: Path) -> Settings:
    overrides = [*case.overrides, f"trainer.max_epochs={epochs}", f"seed={seed}", "trainer.accelerator=cpu"]
    cfg = ConfigSource().compose([*overrides, f"hydra.run.dir={run_dir}"])
    # The peers write the same Adam, norm clipping and cross-entropy by hand; say so if a config changes them.
    assert cfg.optimizer._target_ == "torch.optim.Adam" and cfg.trainer.gradient_clip_algorithm == "norm"
    assert cfg.loss._target_ is None and cfg.regularizer._target_ is None  # loss=auto, regularizer=none
    assert cfg.scheduler.get("warmup_steps", 0) == 0 and cfg.optimizer.weight_decay == 0  # scheduler=none
    return Settings(cfg, overrides)


# -- dlrun -----------------------------------------------------------------------------------------


class FitClock(pl.Callback):
    """The seconds from on_train_start to on_train_end (the training epochs with their validation) and
    the optimizer steps taken. dlrun's run builds its own from the config, so the latest one built
    is kept where the script can read it."""

    latest: ClassVar[FitClock | None] = None

    def __init__(self) -> None:
        self.seconds = 0.0
        self.steps = 0
        self._started = 0.0
        FitClock.latest = self

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._started = time.perf_counter()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.seconds = time.perf_counter() - self._started
        self.steps = trainer.global_step


def run_dlrun(settings: Settings, run_dir: Path) -> Measurement:
    started = time.perf_counter()
    overrides = [
        *settings.overrides,
        "callbacks.early_stopping=null",
        # Without dlrun's progress callback Lightning puts its own bar in; both go.
        "callbacks.progress=null",
        "+trainer.enable_progress_bar=false",
        f"+callbacks.fit_clock={{_target_: {FitClock.__module__}.{FitClock.__qualname__}}}",
        f"hydra.run.dir={run_dir}",
    ]
    cfg = ConfigSource().compose(overrides)
    # What dlrun.hydra_job._run hands run_experiment; Hydra would have made the run dir.
    run_dir.mkdir(parents=True, exist_ok=True)
    choices = {k: str(v) for k, v in cfg.hydra.runtime.choices.items() if not k.startswith("hydra")}
    result = RunResult(
        run_dir=str(run_dir),
        overrides=list(cfg.hydra.overrides.task),
        monitor=cfg.monitor,
        monitor_mode=cfg.monitor_mode,
        seed=cfg.seed,
    )
    run_experiment(cfg, result, choices)
    wall = time.perf_counter() - started
    clock = FitClock.latest
    assert clock is not None  # the config's fit_clock callback
    threads = f"{result.torch_threads} ({result.threads_reason})"
    return Measurement(clock.steps, clock.seconds, wall, result.test_metrics["test/acc"], threads)


# -- what every peer shares ------------------------------------------------------------------------


@dataclass
class PeerStart:
    """dlrun's tensors of the case and its network, freshly initialized as dlrun initializes it."""

    splits: dict[str, Batch]
    spec: DataSpec
    network: nn.Module

    @property
    def binary(self) -> bool:
        return self.spec.task == "binary"


def start_peer(settings: Settings) -> PeerStart:
    """The data and the network as dlrun.building.build_task makes them (seed, data, model, init), so
    the network's first weights are dlrun's."""
    torch.set_num_threads(TORCH_THREADS)  # dlrun's run may have changed them
    datamodule, task = build_task(settings.cfg)
    splits = {name: datamodule.split(name) for name in ("train", "val", "test")}
    return PeerStart(splits, datamodule.spec, task.model)


def peer_threads() -> str:
    """What a peer computed with: torch's default threads, set again by `start_peer` or `run_keras`."""
    return str(torch.get_num_threads())


def columns(split: Batch) -> tuple[Tensor, ...]:
    """A split's tensors in the order a batch holds them: inputs, [lengths,] targets."""
    return tuple(split[key] for key in ("inputs", "lengths", "targets") if key in split)


def call(network: nn.Module, inputs: Tensor, lengths: Tensor | None) -> Tensor:
    """As dlrun.models.calling.call_model calls a network: with the lengths where the data has them."""
    return network(inputs) if lengths is None else network(inputs, lengths)


def loss_and_labels(outputs: Tensor, targets: Tensor, binary: bool) -> tuple[Tensor, Tensor]:
    """dlrun's `loss=auto`: binary cross-entropy on the one logit, or cross-entropy; and the predicted labels."""
    if binary:
        logits = outputs.squeeze(-1)
        return nn.functional.binary_cross_entropy_with_logits(logits, targets.float()), (logits > 0).long()
    return nn.functional.cross_entropy(outputs, targets), outputs.argmax(-1)


# -- plain Lightning -------------------------------------------------------------------------------


class PlainLightningModule(pl.LightningModule):
    """A LightningModule as lightning-hydra-template writes one, around a ready nn.Module."""

    def __init__(self, network: nn.Module, binary: bool, num_classes: int, learning_rate: float) -> None:
        super().__init__()
        self.network = network
        self.binary = binary
        self.learning_rate = learning_rate
        kind: dict[str, Any] = {"task": "binary"} if binary else {"task": "multiclass", "num_classes": num_classes}
        self.train_acc, self.val_acc, self.test_acc = Accuracy(**kind), Accuracy(**kind), Accuracy(**kind)

    def model_step(self, batch: list[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        inputs, *lengths, targets = batch
        outputs = call(self.network, inputs, lengths[0] if lengths else None)
        loss, labels = loss_and_labels(outputs, targets, self.binary)
        return loss, labels, targets

    def training_step(self, batch: list[Tensor], batch_idx: int) -> Tensor:
        loss, labels, targets = self.model_step(batch)
        self.train_acc(labels, targets)
        self.log("train/loss", loss, on_step=False, on_epoch=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: list[Tensor], batch_idx: int) -> None:
        loss, labels, targets = self.model_step(batch)
        self.val_acc(labels, targets)
        self.log("val/loss", loss, on_step=False, on_epoch=True)
        self.log("val/acc", self.val_acc, on_step=False, on_epoch=True)

    def test_step(self, batch: list[Tensor], batch_idx: int) -> None:
        loss, labels, targets = self.model_step(batch)
        self.test_acc(labels, targets)
        self.log("test/loss", loss, on_step=False, on_epoch=True)
        self.log("test/acc", self.test_acc, on_step=False, on_epoch=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.learning_rate)


def run_lightning(settings: Settings, run_dir: Path) -> Measurement:
    started = time.perf_counter()
    peer = start_peer(settings)
    module = PlainLightningModule(peer.network, peer.binary, peer.spec.num_classes, settings.learning_rate)
    train, val, test = (TensorDataset(*columns(peer.splits[name])) for name in ("train", "val", "test"))
    clock = FitClock()
    trainer = pl.Trainer(
        max_epochs=settings.epochs,
        gradient_clip_val=settings.clip_norm,
        logger=TensorBoardLogger(str(run_dir)),
        callbacks=[ModelCheckpoint(monitor="val/loss"), clock],
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(
        module,
        DataLoader(train, batch_size=settings.batch_size, shuffle=True),
        DataLoader(val, batch_size=settings.eval_batch_size),
    )
    tested = trainer.test(
        module,
        DataLoader(test, batch_size=settings.eval_batch_size),
        ckpt_path="best",
        verbose=False,
        weights_only=True,
    )
    wall = time.perf_counter() - started
    return Measurement(clock.steps, clock.seconds, wall, float(tested[0]["test/acc"]), peer_threads())


# -- Keras 3 ---------------------------------------------------------------------------------------


def import_keras() -> tuple[Any, str]:
    """(the keras module on the torch backend, "") or (None, why not)."""
    os.environ["KERAS_BACKEND"] = "torch"  # read when keras is first imported
    os.environ["KERAS_TORCH_DEVICE"] = "cpu"  # every side on the CPU; Keras would take a visible GPU
    if not (KERAS_DIR / "keras" / "__init__.py").exists():
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(KERAS_DIR), "keras"],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            return None, f"pip could not install it: {(done.stderr.strip().splitlines() or ['?'])[-1]}"
        print(f"keras: installed into {KERAS_DIR} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    # At the end, so that the virtualenv's numpy and torch win over the copies pip put there.
    sys.path.append(str(KERAS_DIR))
    try:
        keras = importlib.import_module("keras")
    except Exception as e:  # a broken install or one that does not work with this torch
        return None, f"import failed: {type(e).__name__}: {e}"
    if keras.backend.backend() != "torch":
        return None, f"it runs on the {keras.backend.backend()} backend, not torch"
    return keras, ""


def keras_network(keras: Any, cfg: DictConfig, spec: DataSpec) -> Any:
    """The case's network as a Keras user writes it, from the same config values; differences noted."""
    layers = keras.layers
    model = cfg.model
    activation = str(model.get("activation", "relu"))
    if spec.task == "binary":  # Keras' idiom: probabilities out, where dlrun's networks give logits
        output = layers.Dense(1, activation="sigmoid")
    else:
        output = layers.Dense(spec.num_classes, activation="softmax")
    target = model._target_.rsplit(".", 1)[-1]
    if target == "MLP":
        assert model.norm is None and model.dropout == 0
        channels, height, width = spec.input_shape
        hidden = [layers.Dense(size, activation=activation) for size in model.hidden_sizes]
        return keras.Sequential([keras.Input((height, width, channels)), layers.Flatten(), *hidden, output])
    if target == "LeNet5":
        assert model.pool == "avg" and model.norm is None
        channels, height, width = spec.input_shape
        kernel = int(model.kernel_size)
        # As dlrun.models.lenet: the first conv keeps the size; the second stays unpadded (the paper's)
        # where something survives the second pool, else it keeps the size too. Keras pads "same"
        # symmetrically for an odd kernel, as dlrun's padding of kernel // 2 does.
        second = "valid" if min(height, width) // 2 - kernel + 1 >= 2 else "same"
        return keras.Sequential(
            [
                keras.Input((height, width, channels)),  # Keras' default channels_last layout
                layers.Conv2D(model.channels[0], kernel, padding="same", activation=activation),
                layers.AveragePooling2D(2),
                layers.Conv2D(model.channels[1], kernel, padding=second, activation=activation),
                layers.AveragePooling2D(2),
                layers.Flatten(),
                *[layers.Dense(size, activation=activation) for size in model.head_sizes],
                output,
            ]
        )
    if target == "RecurrentNet":
        assert model.cell == "lstm" and model.bidirectional and model.num_layers == 1
        assert model.read_out == "last" and not model.head_sizes and model.head_dropout == 0
        # Bidirectional(LSTM) returns each direction's final output at the real ends of the masked
        # sequences, dlrun's read_out=last. Keras' LSTM starts its forget-gate bias at 1 and its
        # weights from Glorot/orthogonal, torch's LSTM from uniform(+-1/sqrt(hidden)).
        return keras.Sequential(
            [
                keras.Input((spec.max_length,), dtype="int64"),
                layers.Embedding(spec.vocab_size, model.embedding_size, mask_zero=spec.pad_id == 0),
                layers.Bidirectional(layers.LSTM(model.hidden_size)),
                output,
            ]
        )
    raise ValueError(f"no Keras network written for {model._target_}")


def keras_arrays(split: Batch, binary: bool) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets) as Keras takes them: images channels-last, binary targets as floats."""
    inputs = split["inputs"].numpy()
    if inputs.ndim == 4:
        inputs = np.moveaxis(inputs, 1, -1)
    targets = split["targets"].numpy()
    return inputs, (targets.astype("float32")[:, None] if binary else targets)


def run_keras(keras: Any, settings: Settings, run_dir: Path) -> Measurement:
    started = time.perf_counter()
    torch.set_num_threads(TORCH_THREADS)
    keras.utils.set_random_seed(settings.seed)
    datamodule = build_data(settings.cfg)
    spec = datamodule.spec
    binary = spec.task == "binary"
    train, val, test = (keras_arrays(datamodule.split(name), binary) for name in ("train", "val", "test"))
    network = keras_network(keras, settings.cfg, spec)
    network.compile(
        # torch's (and dlrun's) Adam epsilon, where Keras' own default is 1e-7.
        optimizer=keras.optimizers.Adam(settings.learning_rate, epsilon=1e-8, global_clipnorm=settings.clip_norm),
        loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    marks: list[float] = []
    clock = keras.callbacks.LambdaCallback(
        on_train_begin=lambda logs: marks.append(time.perf_counter()),
        on_train_end=lambda logs: marks.append(time.perf_counter()),
    )
    best_path = run_dir / "best.weights.h5"
    best = keras.callbacks.ModelCheckpoint(
        str(best_path), monitor="val_loss", save_best_only=True, save_weights_only=True
    )
    network.fit(
        *train,
        batch_size=settings.batch_size,
        epochs=settings.epochs,
        validation_data=val,
        validation_batch_size=settings.eval_batch_size,
        callbacks=[clock, best],
        verbose=0,
    )
    # Read before the best epoch's weights come back: the file holds the optimizer's state too.
    steps = int(keras.ops.convert_to_numpy(network.optimizer.iterations))
    network.load_weights(str(best_path))
    tested = network.evaluate(*test, batch_size=settings.eval_batch_size, verbose=0, return_dict=True)
    wall = time.perf_counter() - started
    return Measurement(steps, marks[1] - marks[0], wall, float(tested["accuracy"]), peer_threads())


# -- the hand loop ---------------------------------------------------------------------------------


def batch_at(split: Batch, index: Tensor) -> tuple[Tensor, Tensor | None, Tensor]:
    """(inputs, lengths, targets) of the examples at `index`; texts cut to the batch's longest."""
    inputs, targets = split["inputs"][index], split["targets"][index]
    if "lengths" not in split:
        return inputs, None, targets
    lengths = split["lengths"][index]
    return inputs[:, : int(lengths.max())], lengths, targets


def evaluate(network: nn.Module, split: Batch, batch_size: int, binary: bool) -> tuple[float, float]:
    """(mean loss, accuracy) over a split."""
    network.eval()
    total_loss, correct, count = 0.0, 0, len(split["targets"])
    with torch.no_grad():
        for index in torch.arange(count).split(batch_size):
            inputs, lengths, targets = batch_at(split, index)
            loss, labels = loss_and_labels(call(network, inputs, lengths), targets, binary)
            total_loss += float(loss) * len(index)
            correct += int((labels == targets).sum())
    network.train()
    return total_loss / count, correct / count


def run_hand_loop(settings: Settings, run_dir: Path) -> Measurement:
    started = time.perf_counter()
    peer = start_peer(settings)
    network, train, binary = peer.network, peer.splits["train"], peer.binary
    optimizer = torch.optim.Adam(network.parameters(), lr=settings.learning_rate)
    best_loss, best_weights = math.inf, copy.deepcopy(network.state_dict())
    steps = 0
    fit_started = time.perf_counter()
    for _ in range(settings.epochs):
        for index in torch.randperm(len(train["targets"])).split(settings.batch_size):
            inputs, lengths, targets = batch_at(train, index)
            loss, _ = loss_and_labels(call(network, inputs, lengths), targets, binary)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(network.parameters(), settings.clip_norm)
            optimizer.step()
            steps += 1
        val_loss, _ = evaluate(network, peer.splits["val"], settings.eval_batch_size, binary)
        if val_loss < best_loss:
            best_loss, best_weights = val_loss, copy.deepcopy(network.state_dict())
    fit_seconds = time.perf_counter() - fit_started
    network.load_state_dict(best_weights)
    _, test_accuracy = evaluate(network, peer.splits["test"], settings.eval_batch_size, binary)
    return Measurement(steps, fit_seconds, time.perf_counter() - started, test_accuracy, peer_threads())


# -- the report ------------------------------------------------------------------------------------

Side = Callable[[Settings, Path], Measurement]


def spread(values: list[float], digits: str) -> str:
    """The median with the min-max spread, e.g. `412 (398-430)`."""
    return f"{statistics.median(values):{digits}} ({min(values):{digits}}-{max(values):{digits}})"


def case_header(case: Case, settings: Settings) -> list[str]:
    datamodule = build_data(settings.cfg)
    train = datamodule.split("train")
    examples = len(train["targets"])
    steps = settings.epochs * math.ceil(examples / settings.batch_size)
    lines = [
        f"{case.title}: {examples:,} training examples, {settings.epochs} epoch(s) of batch {settings.batch_size} "
        f"({steps:,} optimizer steps), validation and test in batches of {settings.eval_batch_size}"
    ]
    if "lengths" in train:
        lengths = train["lengths"]
        plain = list(torch.randperm(len(lengths)).split(settings.batch_size))
        full = 1 - float(lengths.float().mean()) / train["inputs"].shape[1]
        pool = datamodule.bucket_pool_batches or 1
        bucketed = bucketed_batches(lengths, settings.batch_size, pool)
        lines.append(
            f"  padding, as a share of the token steps served: lightning and keras (every text padded to "
            f"{train['inputs'].shape[1]}) {full:.0%}, hand loop (each batch cut to its longest) "
            f"{padding_fraction(lengths, plain):.0%}, dlrun (cut and bucketed in pools of {pool} batches) "
            f"{padding_fraction(lengths, bucketed):.0%}"
        )
    return lines


def report_case(sides: list[str], results: dict[str, list[Measurement]]) -> float:
    """Print the case's table and ratios; return the median ratio of dlrun's steps/s to Lightning's."""
    dlrun_threads = " or ".join(sorted({r.threads for r in results["dlrun"]}))
    others_threads = " or ".join(sorted({r.threads for side in sides[1:] for r in results[side]}))
    print(f"  torch threads: dlrun {dlrun_threads}; the others {others_threads} (torch's default)")
    print(f"  {'side':<10} {'steps/s':>22} {'wall s':>20} {'test acc':>24} {'steps':>7}")
    for side in sides:
        runs = results[side]
        steps = sorted({r.steps for r in runs})
        print(
            f"  {side:<10} {spread([r.steps_per_second for r in runs], '.1f'):>22} "
            f"{spread([r.wall_seconds for r in runs], '.2f'):>20} "
            f"{spread([r.test_accuracy for r in runs], '.4f'):>24} {'/'.join(map(str, steps)):>7}"
        )
    lightning_ratio = math.nan
    for peer in sides[1:]:
        ratios = [d.steps_per_second / p.steps_per_second for d, p in zip(results["dlrun"], results[peer])]
        print(f"  dlrun/{peer} steps/s: {spread(ratios, '.2f')}")
        if peer == "lightning":
            lightning_ratio = statistics.median(ratios)
    return lightning_ratio


def run_round(
    cases: list[Case], seed: int, epochs: dict[str, int], sides: dict[str, Side], order: random.Random, where: Path
) -> dict[tuple[str, str], Measurement]:
    """Every side of every case once with `seed`, each case's sides in an order `order` shuffles; by (case, side)."""
    measured = {}
    for case in cases:
        settings = case_settings(case, seed, epochs[case.title], where / "peer-config")
        shuffled = list(sides)
        order.shuffle(shuffled)
        for side in shuffled:
            measured[(case.title, side)] = sides[side](settings, Path(tempfile.mkdtemp(dir=where)))
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--epochs-scale", type=float, default=1.0, help="multiplies each case's epochs (at least 1), for smoke runs"
    )
    parser.add_argument("--no-keras", action="store_true", help="leave Keras out (and do not install it)")
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed first round")
    args = parser.parse_args()
    cases = [CASES[name] for name in args.cases.split(",")]
    epochs = {case.title: max(1, round(case.epochs * args.epochs_scale)) for case in cases}

    quiet_lightning()  # Lightning's info lines and tips would bury the report, on every side
    keras, why_not = (None, "left out (--no-keras)") if args.no_keras else import_keras()
    sides: dict[str, Side] = {"dlrun": run_dlrun, "lightning": run_lightning, "hand loop": run_hand_loop}
    if keras is not None:
        sides["keras"] = lambda settings, run_dir: run_keras(keras, settings, run_dir)
    names = [side for side in SIDES if side in sides]
    sides = {side: sides[side] for side in names}
    print(
        f"torch {torch.__version__} ({TORCH_THREADS} threads by default), pytorch-lightning {pl.__version__}, "
        + (f"keras {keras.__version__} on torch" if keras is not None else f"keras: {why_not}")
    )

    order = random.Random(0)
    results: dict[tuple[str, str], list[Measurement]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        where = Path(tmp)
        if not args.no_warmup:  # the first runs in a process pay for imports and first allocations
            run_round(cases, 0, {case.title: 1 for case in cases}, sides, order, where)
            print("warm-up round done (not counted)", file=sys.stderr, flush=True)
        for repeat in range(args.repeats):
            measured = run_round(cases, repeat, epochs, sides, order, where)
            for case in cases:
                rates = ", ".join(f"{side} {measured[(case.title, side)].steps_per_second:.1f}" for side in names)
                print(f"repeat {repeat + 1}, {case.title}: steps/s {rates}", flush=True)
            for key, measurement in measured.items():
                results.setdefault(key, []).append(measurement)

    worst = math.inf
    for case in cases:
        print()
        for line in case_header(case, case_settings(case, 0, epochs[case.title], Path(tempfile.gettempdir()))):
            print(line)
        worst = min(worst, report_case(names, {side: results[(case.title, side)] for side in names}))
    print(f"dlrun/lightning: {worst:.2f}")


if __name__ == "__main__":
    main()
