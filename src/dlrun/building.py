"""Building a run's parts from its config: the data module, the model (with the arguments the data's
description offers), its init, the optimizer, the task around them, and the callbacks, loggers and
Trainer. Nothing here trains or writes; fitting and testing are dlrun.fit_and_test."""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.errors import InstantiationException
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, open_dict
from pytorch_lightning.loggers import Logger

from dlrun.callbacks import MetricHistory, RandomStates
from dlrun.data.in_memory import InMemoryDataModule
from dlrun.data.spec import DataSpec
from dlrun.errors import ConfigError, did_you_mean
from dlrun.tasks import SupervisedTask, task_class_for
from dlrun.training import transfer

TRANSFER_SETTINGS = ("pretrained", "pretrained_skip", "freeze", "pretrained_lr_scale")
STEP_SETTINGS = ("gradient_clip_val", "gradient_clip_algorithm", "accumulate_grad_batches", "log_every_n_steps")


def build(node: DictConfig, where: str, expected: type | None = None, **kwargs: Any) -> Any:
    """Instantiate `_target_`, turning a bad config into a one-paragraph ConfigError; with
    `expected`, what it builds must be one (a callback slot takes a Callback, not any object)."""
    try:
        built = instantiate(node, **kwargs)
    except InstantiationException as e:
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


def build_task(cfg: DictConfig) -> tuple[InMemoryDataModule, SupervisedTask]:
    """The data and the task around its model, with `cfg.monitor` checked to be a metric it logs;
    nothing is written anywhere, so a sweep can check its first job before any job runs."""
    quiet_lightning()
    if cfg.seed is not None:
        pl.seed_everything(cfg.seed, workers=True, verbose=False)

    datamodule = build_data(cfg)
    spec = datamodule.spec
    model = build_model(cfg, spec)
    _, transfer_settings = split_transfer_settings(cfg.model)
    initializer = build_optional(cfg.init, "init")
    if initializer is not None:
        try:
            initializer(model)
        except ValueError as e:
            raise ConfigError(f"Could not initialize the model with init ({cfg.init._target_}): {e}") from None
    optimizer = build(cfg.optimizer, "optimizer")
    if any(transfer_settings.get(key) for key in ("pretrained", "pretrained_skip", "freeze")):
        optimizer = _start_from_pretrained(model, optimizer, **transfer_settings)
    _, step_settings = split_step_settings(cfg.trainer)
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
            **step_settings,
        )
    except ValueError as e:
        raise ConfigError(f"This combination does not work: {e}.") from None
    _check_monitor(cfg.monitor, task.metric_names("val") + task.metric_names("train"))
    return datamodule, task


def build_data(cfg: DictConfig) -> InMemoryDataModule:
    return build(cfg.data, "data", pl.LightningDataModule)


def build_model(cfg: DictConfig, spec: DataSpec) -> torch.nn.Module:
    """The network `cfg.model` describes, for data described by `spec`, freshly initialized."""
    model_cfg, _ = split_transfer_settings(cfg.model)
    return build(model_cfg, "model", torch.nn.Module, **model_arguments(model_cfg, spec))


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


def split_transfer_settings(model_cfg: DictConfig) -> tuple[DictConfig, dict[str, Any]]:
    """model.pretrained / freeze / pretrained_lr_scale are about the weights, not the architecture."""
    model_cfg = model_cfg.copy()
    with open_dict(model_cfg):
        settings = {key: model_cfg.pop(key) for key in TRANSFER_SETTINGS if key in model_cfg}
    return model_cfg, settings


def _start_from_pretrained(model, optimizer, pretrained=None, pretrained_skip=(), freeze=(), pretrained_lr_scale=1.0):
    """Load the weights, freeze what is asked, and slow the pretrained part's learning rate."""
    if not pretrained:
        raise ConfigError(
            "model.freeze and model.pretrained_skip need model.pretrained: name the run dir or checkpoint to start from."
        )
    try:
        report = transfer.load_pretrained(model, pretrained, list(pretrained_skip or ()))
        frozen = transfer.freeze(model, list(freeze or ()))
    except ValueError as e:
        raise ConfigError(f"{e}.") from None
    print(report.summary() + (f" Frozen: {', '.join(freeze)}." if frozen else ""), flush=True)
    if pretrained_lr_scale == 1.0:
        return optimizer
    loaded = set(report.loaded)
    pretrained_parameters = [p for name, p in model.named_parameters() if name in loaded]
    return transfer.with_scaled_lr(optimizer, pretrained_parameters, pretrained_lr_scale)


def split_step_settings(trainer_cfg: DictConfig) -> tuple[DictConfig, dict[str, Any]]:
    """Take clipping, accumulation and the logging interval out of the Trainer's arguments.

    Users set them where Lightning users expect them (trainer.gradient_clip_val, ...), but the task
    optimizes manually (several steps per Lightning batch): the Trainer refuses the first two then,
    and would count the interval in batches rather than steps.
    """
    trainer_cfg = trainer_cfg.copy()
    settings: dict[str, Any] = {}
    with open_dict(trainer_cfg):
        for key in STEP_SETTINGS:
            if key in trainer_cfg:
                settings[key] = trainer_cfg.pop(key)
        # Epoch metrics and callbacks that log per batch then log every batch (a group of steps).
        trainer_cfg.log_every_n_steps = 1
    return trainer_cfg, settings


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
