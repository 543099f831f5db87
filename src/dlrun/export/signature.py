"""A finished run's data and network rebuilt from its own .hydra/config.yaml, and what the network
takes, for the writers to trace and check."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from dlrun.run_files import RunDir, check_state_fits, restore_recorded_paths


def rebuild(run: RunDir, state: dict, weights_path: Path):
    from omegaconf import open_dict
    from pytorch_lightning import LightningDataModule

    from dlrun.experiment import _quiet_lightning, _split_transfer_settings, build, model_arguments

    _quiet_lightning()
    recorded = run.recorded_config()  # checked by open_run
    cfg = recorded.copy()
    with open_dict(cfg):
        restore_recorded_paths(run, cfg, recorded)
        # ${paths.output_dir} is ${hydra:runtime.output_dir}, which only a Hydra run knows: the run dir.
        if "paths" in cfg:
            cfg.paths.output_dir = str(run.path)
    datamodule = build(cfg.data, "data", LightningDataModule)
    model_cfg, _ = _split_transfer_settings(cfg.model)
    model = build(model_cfg, "model", nn.Module, **model_arguments(model_cfg, datamodule.spec))
    check_state_fits(model, state, weights_path)
    return datamodule, model.eval(), cfg


def signature(model, spec, test: dict) -> dict[str, Any]:
    """What the network takes: inputs (and lengths for variable-length sequences)."""
    takes_lengths = "lengths" in inspect.signature(model.forward).parameters
    if spec.task == "seq2seq" or "inputs" not in test:
        return {"lengths": False, "keys": sorted(test)}
    return {"lengths": takes_lengths and "lengths" in test, "keys": ["inputs", "lengths"] if takes_lengths and "lengths" in test else ["inputs"]}


class Forward(nn.Module):
    """The network called as the task calls it, with named inputs for the exported graph."""

    def __init__(self, net: nn.Module, lengths: bool) -> None:
        super().__init__()
        self.net = net
        self.with_lengths = lengths

    def forward(self, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        if self.with_lengths:
            return self.net(inputs, lengths=lengths)
        return self.net(inputs)
