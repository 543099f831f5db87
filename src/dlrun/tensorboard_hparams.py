"""Fill TensorBoard's HPARAMS tab with the run's choices and its real final metrics.

Lightning logs hyperparameters at the start of training with a dummy `hp_metric` of -1; here they
are written once at the end, pointing at metrics that exist as scalars in the same run.
"""

from __future__ import annotations

from collections.abc import Mapping

from pytorch_lightning.loggers import Logger, TensorBoardLogger
from torch.utils.tensorboard.summary import hparams

HparamValue = bool | int | float | str


def log_hparams(
    loggers: list[Logger], params: Mapping[str, HparamValue], metrics: Mapping[str, float], step: int
) -> None:
    for logger in loggers:
        if not isinstance(logger, TensorBoardLogger):
            continue
        writer = logger.experiment
        for name, value in metrics.items():
            if name.startswith("best/"):  # test/* scalars exist already; the best value does not
                writer.add_scalar(name, value, step)
        experiment, session_start, session_end = hparams(dict(params), dict(metrics))
        for summary in (experiment, session_start, session_end):
            writer.file_writer.add_summary(summary)
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
