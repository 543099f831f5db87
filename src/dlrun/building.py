"""Building a run's parts from its config: the data module, the model (with the arguments the data's
description offers), its init, the optimizer, the task around them, and the callbacks, loggers and
Trainer. Nothing here trains or writes; fitting and testing are dlrun.fit_and_test."""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.errors import InstantiationException
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, open_dict
from omegaconf.errors import OmegaConfBaseException
from pytorch_lightning.loggers import Logger

from dlrun.callbacks import MetricHistory, RandomStates
from dlrun.data.in_memory import InMemoryDataModule
from dlrun.data.spec import DataSpec
from dlrun.errors import ConfigError, did_you_mean
from dlrun.tasks import StepSettings, SupervisedTask, task_class_for
from dlrun.training.transfer import Transfer


def build(node: DictConfig, where: str, expected: type | None = None, **kwargs: Any) -> Any:
    """Instantiate `_target_`, turning a bad config into a one-paragraph ConfigError; with
    `expected`, what it builds must be one (a callback slot takes a Callback, not any object)."""
    try:
        built = instantiate(node, **kwargs)
    except (InstantiationException, OmegaConfBaseException) as e:  # the latter: a value that does not resolve
        cause = e.__cause__ or e
        message = " ".join(str(cause).split())
        raise ConfigError(f"Could not build {where} ({node.get('_target_')}): {message}") from None
    if expected is not None and not isinstance(built, expected):
        raise ConfigError(
            f"{where} ({node.get('_target_')}) built a {type(built).__module__}.{type(built).__qualname__}, but {where} "
            f"takes a {expected.__module__}.{expected.__qualname__}: point its _target_ at a class of that kind "
            "(or at a function that returns one)."
        )
    return built


def build_optional(node: DictConfig, where: str) -> Any:
    """Options such as `scheduler=none` say `_target_: null`: nothing to build."""
    return build(node, where) if node.get("_target_") else None


@dataclass
class Run:
    """Everything a run is made of, built from the config and ready to fit."""

    datamodule: InMemoryDataModule
    task: SupervisedTask
    trainer: pl.Trainer
    history: MetricHistory


def build_run(cfg: DictConfig) -> Run:
    datamodule, task = build_task(cfg)
    history = MetricHistory()
    callbacks = [history, RandomStates()] + [
        build(node, f"callbacks.{name}", pl.Callback) for name, node in cfg.callbacks.items() if node is not None
    ]
    loggers = [build(node, f"logger.{name}", Logger) for name, node in cfg.logger.items() if node is not None]
    trainer_cfg, _ = split_step_settings(cfg.trainer)
    trainer: pl.Trainer = build(trainer_cfg, "trainer", pl.Trainer, callbacks=callbacks, logger=loggers or False)
    return Run(datamodule, task, trainer, history)


def build_task(cfg: DictConfig, start_from_transfer: bool = True) -> tuple[InMemoryDataModule, SupervisedTask]:
    """The data and the task around its model, with `cfg.monitor` checked to be a metric it logs;
    nothing is written anywhere, so a sweep can check its first job before any job runs. Without
    `start_from_transfer`, `cfg.transfer` is checked but its weights are not loaded (the caller has
    weights of its own)."""
    quiet_lightning()
    if cfg.seed is not None:
        pl.seed_everything(cfg.seed, workers=True, verbose=False)

    datamodule = build_data(cfg)
    spec = datamodule.spec
    model = build_model(cfg, spec)
    initializer = build_optional(cfg.init, "init")
    if initializer is not None:
        try:
            initializer(model)
        except ValueError as e:
            raise ConfigError(f"Could not initialize the model with init ({cfg.init._target_}): {e}") from None
    optimizer = build(cfg.optimizer, "optimizer")
    transfer = build(cfg.transfer, "transfer", Transfer) if cfg.get("transfer") else None
    if transfer is not None and start_from_transfer:
        try:
            optimizer = transfer.start(model, optimizer)
        except ValueError as e:
            raise ConfigError(f"{e}.") from None
    _, steps = split_step_settings(cfg.trainer)
    try:
        task_factory = build_optional(cfg.task, "task") or task_class_for(spec.task)
        task = task_factory(
            model,
            spec,
            optimizer,
            build_optional(cfg.scheduler, "scheduler"),
            monitor=cfg.monitor,
            loss=build_optional(cfg.loss, "loss"),
            regularizer=build_optional(cfg.regularizer, "regularizer"),
            steps=steps,
        )
    except ValueError as e:
        raise ConfigError(f"This combination does not work: {e}.") from None
    _check_monitor(cfg.monitor, task.metric_names("val") + task.metric_names("train"))
    return datamodule, task


def build_data(cfg: DictConfig) -> InMemoryDataModule:
    return build(cfg.data, "data", pl.LightningDataModule)


def build_model(cfg: DictConfig, spec: DataSpec) -> torch.nn.Module:
    """The network `cfg.model` describes, for data described by `spec`, freshly initialized."""
    return build(cfg.model, "model", torch.nn.Module, **model_arguments(cfg.model, spec))


def model_arguments(model_cfg: DictConfig, spec: DataSpec) -> dict[str, Any]:
    """What the data tells the model: every field of the spec (input_shape, num_outputs, vocab_size,
    pad_id, max_length, horizon, ...) that the model's constructor names; a constructor that takes
    **kwargs gets input_shape and num_outputs."""
    target = model_cfg.get("_target_")
    try:
        parameters: Mapping[str, inspect.Parameter] = inspect.signature(get_object(target)).parameters
    except Exception:  # Hydra says what is wrong with the target when it builds it
        parameters = {}
    offered = spec.model_arguments()
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    wanted = [*parameters, *(("input_shape", "num_outputs") if takes_any or not parameters else ())]
    arguments = {name: offered[name] for name in wanted if name in offered and name not in model_cfg}
    unserved = [
        name
        for name, parameter in parameters.items()
        if name in offered
        and name not in model_cfg
        and parameter.default is inspect.Parameter.empty
        and not spec.serves(name)
    ]
    if unserved:
        raise ConfigError(
            f"The model ({target}) needs {', '.join(unserved)} from the data, which this {spec.task} data does not "
            "serve. Pair it with data of its kind (model=seq2seq with data=reverse, copy, sort, addition, dates, "
            "bible_en_es or parallel_tsv), or pick a model for this data."
        )
    if parameters and spec.vocab_size and not {"vocab_size", "source_vocab_size"} & set(parameters):
        raise ConfigError(
            f"This data serves token ids (a vocabulary of {spec.vocab_size}), and the model ({target}) "
            "takes no vocab_size to embed them. Use a model that reads text, e.g. model=lstm, model=gru "
            "or model=bilstm (model=seq2seq for sequence-to-sequence data)."
        )
    return arguments


def split_step_settings(trainer_cfg: DictConfig) -> tuple[DictConfig, StepSettings]:
    """The Trainer's arguments, and the task's StepSettings made of those of them that the task acts
    on (see StepSettings: the Trainer refuses them under manual optimization)."""
    trainer_cfg = trainer_cfg.copy()
    with open_dict(trainer_cfg):
        settings = {f.name: trainer_cfg.pop(f.name) for f in fields(StepSettings) if f.name in trainer_cfg}
        # Epoch metrics and callbacks that log per batch then log every batch (a group of steps).
        trainer_cfg.log_every_n_steps = 1
    try:
        return trainer_cfg, StepSettings(**settings)
    except ValueError as e:
        raise ConfigError(f"trainer: {e}.") from None


def _check_monitor(monitor: str, available: list[str]) -> None:
    if monitor not in available:
        raise ConfigError(
            f"monitor '{monitor}' is not a metric this task logs. Metrics: {', '.join(available)}."
            f"{did_you_mean(monitor, available)}"
        )


def quiet_lightning() -> None:
    """Keep the console for the progress and the summary: Lightning's info lines and tips are dropped."""
    for name in ("pytorch_lightning", "lightning", "lightning_fabric", "lightning.pytorch", "matplotlib"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in (
        ".*does not have many workers.*",
        ".*is smaller than the logging interval.*",
        ".*Checkpoint directory .* exists and is not empty.*",
        ".*isinstance\\(treespec, LeafSpec\\)` is deprecated.*",
        # Epoch values are torchmetrics results, which all-reduce their state across processes themselves.
        ".*when logging on epoch level in distributed setting.*",
    ):
        warnings.filterwarnings("ignore", message=pattern)
