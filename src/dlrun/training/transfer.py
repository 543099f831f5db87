"""Transfer learning: start from an earlier run's weights, optionally frozen in part (the `transfer`
node of the config)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn
from torch.optim import Optimizer

from dlrun.checkpoints import load_weights
from dlrun.run_dir.reading import CONFIG_FILE, WEIGHT_FILES, open_run
from dlrun.trust.signature import TRUST_ENV

OptimizerFactory = Callable[[Iterable], Optimizer]

# Best, else last, as the verbs read a run dir's weights.
CHECKPOINT_PREFERENCE = (*WEIGHT_FILES["best"], *WEIGHT_FILES["last"])


class Transfer:
    """How a training starts from earlier weights: `pretrained` (a run dir or weights file) is loaded
    where names and shapes match, `skip` names submodules to start afresh all the same, `freeze`
    those to keep fixed, and `lr_scale` sets the loaded weights' learning rate relative to the
    optimizer's. Without `pretrained`, the network starts from its initialization."""

    def __init__(
        self,
        pretrained: str | None = None,
        skip: Sequence[str] = (),
        freeze: Sequence[str] = (),
        lr_scale: float = 1.0,
    ) -> None:
        if (skip or freeze) and not pretrained:
            raise ValueError(
                "transfer.skip and transfer.freeze need transfer.pretrained: name the run dir or weights file to "
                "start from"
            )
        self.pretrained = pretrained
        self.skip = list(skip or ())
        self.freeze = list(freeze or ())
        self.lr_scale = lr_scale

    def start(self, model: nn.Module, optimizer_factory: OptimizerFactory) -> OptimizerFactory:
        """Load the weights into `model` and freeze what is asked; the optimizer factory to train it
        with (slower on the loaded weights when lr_scale says so)."""
        if not self.pretrained:
            return optimizer_factory
        report = load_pretrained(model, self.pretrained, self.skip)
        frozen = freeze(model, self.freeze)
        print(report.summary() + (f" Frozen: {', '.join(self.freeze)}." if frozen else ""), flush=True)
        if self.lr_scale == 1.0:
            return optimizer_factory
        loaded = set(report.loaded)
        pretrained_parameters = [p for name, p in model.named_parameters() if name in loaded]
        return with_scaled_lr(optimizer_factory, pretrained_parameters, self.lr_scale)


@dataclass
class LoadReport:
    source: Path
    loaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    shape_mismatch: list[str] = field(default_factory=list)
    not_in_checkpoint: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"Loaded {len(self.loaded)} tensors from {self.source}"]
        if self.skipped:
            parts.append(f"left {len(self.skipped)} newly initialized as asked ({_names(self.skipped)})")
        if self.shape_mismatch:
            parts.append(
                f"kept {len(self.shape_mismatch)} of the new model's own (shapes differ: {_names(self.shape_mismatch)})"
            )
        if self.not_in_checkpoint:
            parts.append(f"{len(self.not_in_checkpoint)} not in the checkpoint ({_names(self.not_in_checkpoint)})")
        return "; ".join(parts) + "."


def checkpoint_path(source: str | Path) -> Path:
    """A checkpoint or safetensors file, or the best (else last) weights of a dlrun run directory."""
    path = Path(source).expanduser()
    if (path / CONFIG_FILE).is_file():
        # Only the weights are read, but a run dir is opened one way, so a tampered or foreign one
        # that asks for more than dlrun builds for anyone is refused here too.
        open_run(path, accept=f"set {TRUST_ENV}=1, or give transfer.pretrained the weights file itself")
    if path.is_dir():
        for candidate in CHECKPOINT_PREFERENCE:
            if (path / candidate).is_file():
                return path / candidate
        raise ValueError(
            f"the run dir '{path}' has no {' or '.join(CHECKPOINT_PREFERENCE)}; name a checkpoint file instead"
        )
    if not path.is_file():
        raise ValueError(
            f"transfer.pretrained: '{path}' is neither a run dir nor a checkpoint (.ckpt, .pt) or .safetensors file"
        )
    return path


def load_pretrained(model: nn.Module, source: str | Path, skip: Sequence[str] = ()) -> LoadReport:
    """Copy every tensor whose name and shape match; leave the rest as the new model made them.

    The usual case is a new head: the old one has another number of outputs, so its weights are
    reported and skipped while the feature layers load. When the shapes happen to match (five old
    classes, five new ones), `skip` names the submodules to start afresh all the same.
    """
    skip_prefixes = tuple(f"{name}." for name in _submodule_names(model, skip, "transfer.skip"))
    path = checkpoint_path(source)
    state = load_weights(path)  # refuses a file that could run code (a DlrunError, exit 2)

    report = LoadReport(path)
    own = model.state_dict()
    matched = {}
    for name, tensor in own.items():
        if name.startswith(skip_prefixes):
            report.skipped.append(name)
        elif name not in state:
            report.not_in_checkpoint.append(name)
        elif state[name].shape != tensor.shape:
            report.shape_mismatch.append(name)
        else:
            matched[name] = state[name]
            report.loaded.append(name)
    if not matched:
        raise ValueError(f"no tensor in '{path}' matches this model by name and shape; is it the same model family?")
    model.load_state_dict(matched, strict=False)
    return report


def freeze(model: nn.Module, names: list[str]) -> list[nn.Parameter]:
    """Stop training the named submodules (dotted names, e.g. `features` or `layers.0`)."""
    modules = dict(model.named_modules())
    frozen = []
    for name in _submodule_names(model, names, "transfer.freeze"):
        for parameter in modules[name].parameters():
            parameter.requires_grad_(False)
            frozen.append(parameter)
    return frozen


def _submodule_names(model: nn.Module, names, knob: str) -> list[str]:
    modules = dict(model.named_modules())
    for name in names:
        if name not in modules:
            children = [child for child, _ in model.named_children()]
            raise ValueError(f"{knob}: no submodule '{name}'; top-level submodules are: {', '.join(children)}")
    return list(names)


def _names(names: list[str], shown: int = 4) -> str:
    more = f", +{len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def with_scaled_lr(optimizer_factory: OptimizerFactory, scaled: list[nn.Parameter], scale: float) -> OptimizerFactory:
    """An optimizer factory that trains `scaled` at `scale` times the learning rate.

    Fine-tuning pretrained layers more gently than a new head keeps what they learned; frozen
    parameters are left out of the optimizer altogether.
    """
    scaled_ids = {id(p) for p in scaled}

    def make(parameters):
        trainable = [p for p in parameters if p.requires_grad]
        groups = [
            {"params": [p for p in trainable if id(p) not in scaled_ids]},
            {"params": [p for p in trainable if id(p) in scaled_ids], "lr_scale": scale},
        ]
        optimizer = optimizer_factory([group for group in groups if group["params"]])
        for group in optimizer.param_groups:
            group["lr"] *= group.get("lr_scale", 1.0)
        return optimizer

    return make
