"""What a run shows in TensorBoard beyond its curves: a run name that says what the run is, and its
row in the HParams tab with its real final metrics.

HParams: Lightning logs hyperparameters at the start of training with a dummy `hp_metric` of -1;
here each run writes, once at the end, only its session (hyperparameters, then that it ended). No run
writes an experiment summary: TensorBoard takes the first one it finds under the logdir for every run
there, so one run's summary would decide the columns of all of them (the metrics of another task
missing, no hyperparameter marked as varying). Without one, TensorBoard infers the experiment from
all the sessions: the hyperparameters that vary between them are marked and shown first, and the
metrics are the scalar tags of the runs, each run's value the last one it logged.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import TensorBoardLogger
from torch.utils.tensorboard.summary import hparams

HparamValue = bool | int | float | str
HPARAM_GROUPS = ("data", "model", "init", "loss", "regularizer", "optimizer", "scheduler", "trainer")
# Where a run writes is different for every run and says nothing about it; as a hyperparameter it
# would be marked as varying in every comparison, taking one of the columns TensorBoard shows first.
NOT_HPARAMS = frozenset({"trainer.default_root_dir"})
# Characters that would split the run name into nested dirs, leave the run dir, or that some file
# systems refuse; written as %XX, as in a URL, so the name still reads as the overrides.
_NOT_IN_A_NAME = re.compile(r'[\x00-\x1f%/\\:*?"<>|]')
# Below NAME_MAX (255 bytes on Linux and macOS), leaving room for the hash that keeps a cut name unique.
LONGEST_NAME = 200
EVENTS = "events.out.tfevents.*"


class TensorBoardRunLogger(TensorBoardLogger):
    """Lightning's TensorBoardLogger, whose `version` (the run's dir under `save_dir/name`, which is
    the run's name in TensorBoard) is the job's overrides made into one safe dir name.

    A run dir whose TensorBoard dir holds a run already is a resumed run: it goes on writing there,
    whatever overrides `dlrun resume` added, so its curves stay one run.
    """

    def __init__(
        self, save_dir: str | Path, name: str | None = "tensorboard", version: int | str | None = None, **kwargs: Any
    ) -> None:
        if isinstance(version, str):
            version = _earlier_run(Path(save_dir, name or ""), run_name(version))
        super().__init__(save_dir, name=name, version=version, **kwargs)


def run_name(overrides: str) -> str:
    """`overrides` (Hydra's `job.override_dirname`, `model=cnn,seed=1`) as one dir name."""
    name = _NOT_IN_A_NAME.sub(lambda found: f"%{ord(found.group()):02X}", overrides)
    if name in (".", ".."):
        name = name.replace(".", "%2E")
    if len(name.encode()) > LONGEST_NAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = name.encode()[: LONGEST_NAME - 9].decode(errors="ignore") + f"~{digest}"
    return name


def _earlier_run(root: Path, name: str) -> str:
    """`name`, unless `root` holds one run already (a resumed run dir): that run's dir, relative to `root`."""
    if not root.is_dir() or (root / name).is_dir():
        return name
    earlier = {path.parent for path in root.rglob(EVENTS)}
    if len(earlier) != 1:
        return name
    [found] = earlier
    return found.relative_to(root).as_posix() if found != root else ""


def hparams_of(cfg, choices: Mapping[str, str], resolve: bool = True) -> dict[str, HparamValue]:
    """The run's hyperparameters: its group choices, every value of the config groups, and the seed."""
    from omegaconf import OmegaConf

    values = flatten({g: OmegaConf.to_container(cfg[g], resolve=resolve) for g in HPARAM_GROUPS})
    params = {**choices, **{k: v for k, v in values.items() if k not in NOT_HPARAMS}}
    params["seed"] = "null" if cfg.seed is None else cfg.seed
    return params


def write_hparams(writer: Any, params: Mapping[str, HparamValue], metrics: Mapping[str, float], step: int) -> None:
    """The run's HParams session and its final numbers, as scalars and as a table in the Text tab,
    into one TensorBoard SummaryWriter (dlrun.trackers.sinks calls it for each TensorBoard logger).

    `metrics`: the test values (Lightning wrote them as scalars already) and `best/<monitor>`, written
    here as a scalar because HParams reads a metric's value from nowhere else. `step`: the run's last
    optimizer step, where its test values are too (see tasks/fast_logging.py).
    """
    for name, value in metrics.items():
        if name.startswith("best/"):
            writer.add_scalar(name, value, step)
    if metrics:
        writer.add_text("results", results_table(metrics), step)
        writer.add_custom_scalars(curves_layout(metrics))
    _, session_start, session_end = hparams(dict(params), {})
    for summary in (session_start, session_end):
        writer.file_writer.add_summary(summary, global_step=step)
    writer.flush()


# The Custom Scalars tab's section of train and validation curves, one chart per metric.
CURVES_SECTION = "train and val"


def curves_layout(metrics: Mapping[str, float]) -> dict[str, dict[str, list]]:
    """A Custom Scalars layout with each metric's train and validation curves in one chart.

    TensorBoard orders the Scalars and Time Series sections by tag name, so `best`, `diagnostics` and
    `epoch` come before `train` and `val` there; its maintainers' answer to a chosen order is this tab,
    whose charts the run lays out itself. The metrics are those the run tested (test/X: train/X, val/X)
    and the monitor."""
    names = {name.split("/", 1)[1] for name in metrics if name.startswith(("test/", "best/val/", "best/train/"))}
    names = {name.removeprefix("val/").removeprefix("train/") for name in names}
    charts = {name: ["Multiline", [rf"^(train|val)/{re.escape(name)}$"]] for name in sorted(names)}
    return {CURVES_SECTION: charts}


def results_table(metrics: Mapping[str, float]) -> str:
    """The final numbers as a Markdown table, which TensorBoard's Text tab draws as one."""
    rows = [f"| {name} | {value:.6g} |" for name, value in sorted(metrics.items())]
    return "\n".join(["| metric | value |", "|---|---|", *rows])


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
