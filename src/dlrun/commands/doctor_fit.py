"""`dlrun doctor`'s training check: every model family, small, fits a few steps on synthetic data.

Each family is built the way a run builds it: its config composed from conf/model/<family>.yaml
(with small sizes as overrides), then `dlrun.building.build_task`, which builds the data module,
the model (with `model_arguments` from the data's DataSpec), the init, the optimizer and the task.
Only the data module is swapped for a synthetic one, so a broken config or model shows up here as
it would in `dlrun train`. The steps themselves are a plain loop through the task's own
`forward_batch` and `loss` (a Lightning Trainer would take longer than the steps).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from dlrun.data.in_memory import InMemoryDataModule
from dlrun.data.loader import Batch
from dlrun.data.padding import LENGTH_KEYS
from dlrun.data.spec import DataSpec

STEPS = 3
EXAMPLES = 16


@dataclass(frozen=True)
class Family:
    name: str
    data: str  # what SyntheticDataModule serves it: images | tokens | pairs
    overrides: tuple[str, ...]  # small sizes, so that every family trains in a blink


FAMILIES: tuple[Family, ...] = (
    Family("mlp", "images", ("model.hidden_sizes=[16]",)),
    Family("cnn", "images", ("model.channels=[4,8]", "model.head_sizes=[16]")),
    Family("lenet5", "images", ("model.channels=[2,4]", "model.head_sizes=[8,8]")),
    Family("alexnet", "images", ("model.width=0.05",)),
    Family("vgg", "images", ("model.blocks=[1,1,1]", "model.channels=[4,8,8]", "model.head_sizes=[16,16]")),
    Family("resnet", "images", ("model.blocks_per_stage=[1,1]", "model.channels=[4,8]")),
    *(
        Family(name, "tokens", ("model.hidden_size=8", "model.embedding_size=8"))
        for name in ("rnn", "lstm", "gru", "bilstm", "bigru")
    ),
    Family("seq2seq", "pairs", ("model.hidden_size=8", "model.embedding_size=8")),
)
FAMILY_NAMES = tuple(f.name for f in FAMILIES)
# The metric each kind of data lets a task monitor (build_task checks that the task logs it).
MONITOR = {"images": "val/loss", "tokens": "val/loss", "pairs": "val/token_acc"}


@dataclass
class FitCheck:
    family: str
    device: str
    ok: bool
    detail: str  # the losses for a pass, the error line for a failure
    seconds: float


class SyntheticDataModule(InMemoryDataModule):
    """A few random examples of one kind, the same in every split: 1x8x8 images in 3 classes,
    token ids of varying lengths (padded, with `lengths`) in 3 classes, or source/target pairs."""

    def __init__(self, kind: str = "images", examples: int = EXAMPLES, seed: int = 0) -> None:
        super().__init__(batch_size=examples, eval_batch_size=examples, steps_per_execution=1)
        self.kind = kind
        self.examples = examples
        self.seed = seed

    def load(self) -> tuple[dict[str, Batch], DataSpec]:
        generator = torch.Generator().manual_seed(self.seed)
        n = self.examples
        if self.kind == "images":
            batch = {"inputs": torch.randn(n, 1, 8, 8, generator=generator), "targets": torch.arange(n) % 3}
            spec = DataSpec("multiclass", (1, 8, 8), num_classes=3, class_names=("a", "b", "c"))
        elif self.kind == "tokens":
            steps, vocab = 7, 12
            lengths = torch.randint(3, steps + 1, (n,), generator=generator)
            lengths[0] = steps  # the longest fills the batch, as the text loaders serve it
            inputs = torch.randint(2, vocab, (n, steps), generator=generator)
            inputs[torch.arange(steps)[None, :] >= lengths[:, None]] = 0  # PAD
            batch = {"inputs": inputs, "lengths": lengths, "targets": torch.arange(n) % 3}
            spec = DataSpec(
                "multiclass",
                (steps,),
                num_classes=3,
                class_names=("a", "b", "c"),
                vocab_size=vocab,
                pad_id=0,
                max_length=steps,
            )
        elif self.kind == "pairs":
            batch, spec = _reversal_pairs(n, generator)
        else:
            raise ValueError(f"kind must be images, tokens or pairs, got {self.kind!r}")
        return {split: dict(batch) for split in ("train", "val", "test")}, spec


def _reversal_pairs(n: int, generator: torch.Generator) -> tuple[Batch, DataSpec]:
    """Sources of 3..5 symbols and their reversals: PAD 0, UNK 1, BOS 2, EOS 3 on both sides."""
    pad, bos, eos, vocab, longest = 0, 2, 3, 10, 5
    lengths = torch.randint(3, longest + 1, (n,), generator=generator)
    lengths[0] = longest
    source = torch.full((n, longest), pad)
    target_in = torch.full((n, longest + 1), pad)
    target_out = torch.full((n, longest + 1), pad)
    for row, length in enumerate(lengths.tolist()):
        symbols = torch.randint(4, vocab, (length,), generator=generator)
        source[row, :length] = symbols
        target_in[row, 0] = bos
        target_in[row, 1 : length + 1] = symbols.flip(0)
        target_out[row, :length] = symbols.flip(0)
        target_out[row, length] = eos
    batch = {
        "source": source,
        "source_lengths": lengths,
        "target_in": target_in,
        "target_out": target_out,
        "target_lengths": lengths + 1,
    }
    spec = DataSpec(
        "seq2seq",
        (longest,),
        vocab_size=vocab,
        pad_id=pad,
        max_length=longest,
        source_vocab_size=vocab,
        target_vocab_size=vocab,
        bos_id=bos,
        eos_id=eos,
        max_target_length=longest + 1,
    )
    return batch, spec


def fit_devices() -> list[str]:
    """The devices to fit on: the CPU, and CUDA and MPS where torch has them."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def check_families(families: Iterable[Family], devices: list[str]) -> list[FitCheck]:
    from dlrun.config.compose import ConfigSource

    source = ConfigSource()
    return [check_family(source, family, device) for family in families for device in devices]


def check_family(source, family: Family, device: str) -> FitCheck:
    """Build `family` through the config path a run takes and fit STEPS optimizer steps on `device`."""
    started = time.perf_counter()
    try:
        losses = _fit(source, family, device)
        ok, detail = _judge(losses)
    except Exception as e:  # any failure is this family's, and the grid says which
        ok, detail = False, error_line(e)
    return FitCheck(family.name, device, ok, detail, time.perf_counter() - started)


def _fit(source, family: Family, device: str) -> list[float]:
    from omegaconf import open_dict

    from dlrun.building import build_task

    cfg = source.compose(
        [
            f"model={family.name}",
            *family.overrides,
            "logger=none",
            "callbacks=none",
            "scheduler=none",
            "optimizer=adam",
            "optimizer.lr=0.01",
            "seed=0",
        ]
    )
    with open_dict(cfg):
        cfg.data = {"_target_": f"{__name__}.SyntheticDataModule", "kind": family.data}
        cfg.monitor = MONITOR[family.data]
    datamodule, task = build_task(cfg)
    task.to(device).train()
    batch = {k: v if k in LENGTH_KEYS else v.to(device) for k, v in datamodule.split("train").items()}
    optimizer = task.optimizer_factory([p for p in task.parameters() if p.requires_grad])
    losses = []
    for _ in range(STEPS):
        optimizer.zero_grad(set_to_none=True)
        loss = task.loss(task.forward_batch(batch), task.targets_of(batch))
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def _judge(losses: list[float]) -> tuple[bool, str]:
    shown = " → ".join(f"{loss:.4g}" for loss in (losses[0], losses[-1]))
    for step, loss in enumerate(losses, start=1):
        if not math.isfinite(loss):
            return False, f"the loss is {loss} at step {step} of {len(losses)}"
    if losses[-1] == losses[0]:
        return False, f"the loss did not change over {len(losses)} steps ({losses[0]:.6g})"
    return True, shown


def error_line(error: BaseException) -> str:
    """One line for the grid: the exception's type and the first line of its message."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    message = lines[0] if lines else ""
    name = type(error).__name__
    return f"{name}: {message}" if message else name
