"""Fill TensorBoard's HPARAMS tab with the run's choices and its real final metrics.

Lightning logs hyperparameters at the start of training with a dummy `hp_metric` of -1; here they
are written once at the end, pointing at metrics that exist as scalars in the same run.
"""

from __future__ import annotations

from collections.abc import Mapping

from pytorch_lightning.loggers import Logger, TensorBoardLogger
from torch.utils.tensorboard.summary import hparams

HparamValue = bool | int | float | str
HPARAM_GROUPS = ("data", "model", "init", "loss", "regularizer", "optimizer", "scheduler", "trainer")
# What a run of a sweep shows for a hyperparameter that only other jobs have.
MISSING = "-"


def hparams_of(cfg, choices: Mapping[str, str], resolve: bool = True) -> dict[str, HparamValue]:
    """The run's hyperparameters: its group choices, every value of the config groups, and the seed."""
    from omegaconf import OmegaConf

    params = {**choices, **flatten({g: OmegaConf.to_container(cfg[g], resolve=resolve) for g in HPARAM_GROUPS})}
    params["seed"] = "null" if cfg.seed is None else cfg.seed
    return params


def log_hparams(
    loggers: list[Logger], params: Mapping[str, HparamValue], metrics: Mapping[str, float], step: int
) -> None:
    """`step`: the run's last optimizer step (trainer.global_step), where its test values are too: every
    value of a run goes at the optimizer step (see tasks/fast_logging.py)."""
    for logger in loggers:
        if not isinstance(logger, TensorBoardLogger):
            continue
        writer = logger.experiment
        for name, value in metrics.items():
            if name.startswith("best/"):  # test/* scalars exist already; the best value does not
                writer.add_scalar(name, value, step)
        experiment, session_start, session_end = hparams(dict(params), dict(metrics))
        for summary in (experiment, session_start, session_end):
            writer.file_writer.add_summary(summary, global_step=step)
        writer.flush()


def flatten(node: object, prefix: str = "") -> dict[str, HparamValue]:
    """Nested config -> {'optimizer.lr': 0.001, ...}; lists become strings, Hydra's keys are dropped."""
    if isinstance(node, Mapping):
        flat: dict[str, HparamValue] = {}
        for key, value in node.items():
            if str(key) in ("_target_", "_partial_", "_recursive_", "_convert_"):
                continue
            flat.update(flatten(value, f"{prefix}{key}."))
        return flat
    key = prefix.rstrip(".")
    if node is None:
        return {key: "null"}
    if isinstance(node, bool | int | float | str):
        return {key: node}
    return {key: str(node)}
