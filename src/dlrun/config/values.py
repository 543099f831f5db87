"""Every configured value checked against what will receive it, before a dir is made or a model built.

Nothing here knows a config path. For each node with a `_target_`, the target itself says what is
right: its signature names the arguments it takes (any other key is a did-you-mean, unless it takes
**kwargs that go somewhere we cannot see), and its annotations say each one's type (1.5 is no `int`,
[a, b] no `Sequence[int]`, 64 no list at all, `true` no number). What a type cannot say, RULES adds,
keyed by the parameter's NAME: ranges (`lr` > 0, `dropout` in [0, 1), sizes >= 1, ...), paths that
must exist, and choices taken from the code where the parameter is declared: a `cell` is one of the
CELLS of the module that declares it, an `activation` is whatever `make_activation` there accepts.
A user's own class is checked the same way, with no new rule: its annotations, and the rules of any
parameter name it shares (its `activation` too, if its module uses dlrun's `make_activation`).

It stays cheap: a target's module is imported only when a node names it (the run imports it anyway),
nothing is built but the small objects a rule resolves a value through (an activation, a pool), and
no data is read.
"""

from __future__ import annotations

import collections.abc as abc
import enum
import importlib
import inspect
import math
import os
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dlrun.config.compose import job_config
from dlrun.errors import ConfigError, DlrunError, did_you_mean, unknown_choice

# Hydra's own keys in a node, never arguments of its target.
HYDRA_KEYS = frozenset({"_target_", "_partial_", "_recursive_", "_convert_", "_args_"})
MISSING = "???"
EMPTY = inspect.Parameter.empty

# Keys the experiment takes out of a node before it builds the node's target (see
# dlrun.experiment._split_transfer_settings and _split_step_settings): they are checked against
# what receives them instead. node path -> (the keys, their receiver), both "module:name".
POPPED = {
    "model": ("dlrun.experiment:TRANSFER_SETTINGS", "dlrun.experiment:_start_from_pretrained"),
    "trainer": ("dlrun.experiment:STEP_SETTINGS", "dlrun.tasks.base:SupervisedTask"),
}

# Top-level values, which no target receives.
TOP_LEVEL: dict[str, Any] = {"seed": int | None, "monitor": str, "task_name": str}


# -- rules: what a parameter of this name must be, beyond its type ----------------------------


@dataclass(frozen=True)
class Range:
    """A number in [low, high] (open ends where said); `also` maps special values to their meaning.
    A list is checked entry by entry (layer sizes, betas)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    also: tuple[tuple[float, str], ...] = ()
    note: str = ""

    def allows(self, x: float) -> bool:
        if any(x == special for special, _ in self.also):
            return True
        if self.low is not None and (x <= self.low if self.low_open else x < self.low):
            return False
        return not (self.high is not None and (x >= self.high if self.high_open else x > self.high))

    def describe(self, whole: bool) -> str:
        noun = "a whole number" if whole else "a number"
        if self.low == 0 and self.low_open and self.high is None:
            text = "a positive whole number" if whole else "a positive number"
        elif self.high is None:
            text = f"{noun} {'>' if self.low_open else '>='} {_number(self.low)}"
        elif self.low is None:
            text = f"{noun} {'<' if self.high_open else '<='} {_number(self.high)}"
        else:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            text = f"{noun} in {left}{_number(self.low)}, {_number(self.high)}{right}"
        specials = "".join(f", or {_number(v)} ({meaning})" for v, meaning in self.also)
        return text + specials

    def check(self, where: str, value: Any, param: Param | None, typed: bool | None) -> None:
        if value is None:
            return
        entries = value if isinstance(value, list) else [value]
        whole = param is not None and _wants_whole(param.hint)
        for entry in entries:
            if _is_number(entry):
                if math.isnan(entry) or not self.allows(entry):
                    raise self._error(where, value, whole, entry if isinstance(value, list) else None)
            elif typed is not True and not isinstance(entry, (dict, list)):
                raise self._error(where, value, whole, None)

    def _error(self, where: str, value: Any, whole: bool, entry: Any) -> ConfigError:
        expected = self.describe(whole)
        if entry is not None:
            expected = f"a list of entries that are each {expected}"
        note = f" ({self.note})" if self.note else ""
        return ConfigError(f"{where} must be {expected}{note}, got {show(value)}.")


@dataclass(frozen=True)
class FractionOrCount:
    """A float is a fraction, an int a count (Lightning's limit_*_batches, val_check_interval)."""

    fraction: Range
    count: Range
    what: str = "batches"

    def check(self, where: str, value: Any, param: Param | None, typed: bool | None) -> None:
        if not _is_number(value):
            return
        rule = self.count if isinstance(value, int) else self.fraction
        if not rule.allows(value):
            fraction = self.fraction.describe(False).removeprefix("a number ")
            count = self.count.describe(True).removeprefix("a whole number ")
            raise ConfigError(
                f"{where} must be a fraction {fraction} of the {self.what}, or a whole number of {self.what} "
                f"{count}; got {show(value)}."
            )


@dataclass(frozen=True)
class OneOf:
    """One of the choices that constants of these names hold where the parameter is declared (its
    class's attributes, then its module's globals): a tuple's items, a dict's keys, a str itself.
    `source` ("package.module:NAME") instead names them outright, for that package's own targets."""

    names: tuple[str, ...] = ()
    source: str | None = None
    extra: tuple[str, ...] = ()

    def check(self, where: str, value: Any, param: Param | None, typed: bool | None) -> None:
        if value is None or param is None or isinstance(value, (dict, list)):
            return
        choices = self.choices(param)
        if choices is not None and value not in choices:
            raise unknown_choice(where, show_plain(value), [show_plain(c) for c in choices])

    def choices(self, param: Param) -> list[Any] | None:
        if self.source is not None:
            module, _, name = self.source.partition(":")
            if not param.module.startswith(module.split(".")[0]):
                return None
            found = [_import(self.source)]
        else:
            found = [c for c in (param.lookup(n) for n in self.names) if c is not _ABSENT]
        if not found:
            return None
        choices: list[Any] = list(self.extra)
        for constant in found:
            items = [constant] if isinstance(constant, str) else list(constant() if callable(constant) else constant)
            choices += [c for c in items if c not in choices]
        return choices


@dataclass(frozen=True)
class Resolve:
    """Pass the value through the same function (or class) the target uses for it, found by name
    where the parameter is declared: its own error says what is wrong."""

    names: tuple[str, ...]
    call: Callable[[Any, Any], Any] = lambda function, value: function(value)

    def check(self, where: str, value: Any, param: Param | None, typed: bool | None) -> None:
        if value is None or param is None:
            return
        for name in self.names:
            function = param.lookup(name)
            if function is _ABSENT or not callable(function):
                continue
            try:
                self.call(function, value)
            except (ValueError, KeyError, DlrunError) as e:
                raise self._error(where, value, e) from None
            except Exception:  # a TypeError, say: it does not take the value alone, and the build will tell
                pass
            return

    @staticmethod
    def _error(where: str, value: Any, error: Exception) -> ConfigError:
        text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
        message = " ".join(text.split())
        message = message if message.endswith((".", "?", "!")) else f"{message}."
        return ConfigError(message if where in message else f"{where}={show(value)}: {message}")


@dataclass(frozen=True)
class Exists:
    """A path that must be there when the run starts; relative paths start from the working dir."""

    what: str = "file or directory"

    def check(self, where: str, value: Any, param: Param | None, typed: bool | None) -> None:
        if not isinstance(value, str) or not value or Path(value).expanduser().exists():
            return
        raise ConfigError(
            f"{where} '{value}' does not exist (relative paths start from {Path.cwd()}); give an existing {self.what}."
        )


Rule = Range | FractionOrCount | OneOf | Resolve | Exists

POSITIVE = Range(0, low_open=True)
NON_NEGATIVE = Range(0)
AT_LEAST_1 = Range(1)
PROBABILITY = Range(0, 1)
DROPOUT = Range(0, 1, high_open=True)
FRACTION = Range(0, 1, low_open=True, high_open=True)
NEVER_IF_0 = Range(0, note="0 = never")
SEED = Range(0, 2**32 - 1)
ACTIVATION = Resolve(("make_activation",))

RULES: dict[str, tuple[Rule, ...]] = {
    # optimizers and schedules
    "lr": (POSITIVE,),
    "max_lr": (POSITIVE,),
    "min_lr": (NON_NEGATIVE,),
    "eta_min": (NON_NEGATIVE,),
    "weight_decay": (NON_NEGATIVE,),
    "momentum": (DROPOUT,),
    "dampening": (PROBABILITY,),
    "betas": (DROPOUT,),
    "rho": (PROBABILITY,),
    "eps": (NON_NEGATIVE,),
    "lr_decay": (NON_NEGATIVE,),
    "initial_accumulator_value": (NON_NEGATIVE,),
    "gamma": (POSITIVE,),
    "step_size": (AT_LEAST_1,),
    "factor": (FRACTION,),
    "patience": (NON_NEGATIVE,),
    "threshold": (NON_NEGATIVE,),
    "cooldown": (NON_NEGATIVE,),
    "warmup_steps": (NON_NEGATIVE,),
    "pct_start": (PROBABILITY,),
    "div_factor": (POSITIVE,),
    "final_div_factor": (POSITIVE,),
    # Built on a throwaway optimizer: OneCycleLR is what checks its strategy.
    "anneal_strategy": (
        Resolve(("OneCycleLR",), lambda cls, strategy: cls(_optimizer(), 0.1, total_steps=2, anneal_strategy=strategy)),
    ),
    "base_momentum": (PROBABILITY,),
    "max_momentum": (PROBABILITY,),
    "pretrained_lr_scale": (Range(0, low_open=True, note="model.freeze keeps weights fixed"),),
    # the Trainer and the optimizer steps
    "max_epochs": (AT_LEAST_1,),
    "min_epochs": (NON_NEGATIVE,),
    "max_steps": (Range(1, also=((-1, "no limit"),)),),
    "min_steps": (NON_NEGATIVE,),
    "check_val_every_n_epoch": (AT_LEAST_1,),
    "num_sanity_val_steps": (Range(0, also=((-1, "all of them"),)),),
    "log_every_n_steps": (AT_LEAST_1,),
    "accumulate_grad_batches": (AT_LEAST_1,),
    "gradient_clip_val": (Range(0, note="null or 0 turns clipping off"),),
    "gradient_clip_algorithm": (OneOf(("CLIP_ALGORITHMS",)),),
    "limit_train_batches": (FractionOrCount(PROBABILITY, NON_NEGATIVE),),
    "limit_val_batches": (FractionOrCount(PROBABILITY, NON_NEGATIVE),),
    "limit_test_batches": (FractionOrCount(PROBABILITY, NON_NEGATIVE),),
    "limit_predict_batches": (FractionOrCount(PROBABILITY, NON_NEGATIVE),),
    "overfit_batches": (FractionOrCount(PROBABILITY, NON_NEGATIVE),),
    "val_check_interval": (FractionOrCount(Range(0, 1, low_open=True), AT_LEAST_1, "training batches"),),
    "num_nodes": (AT_LEAST_1,),
    "devices": (Range(0, also=((-1, "every device"),)),),
    # Lightning's names for its accelerators and strategies; "gpu" is its alias for cuda or mps.
    "accelerator": (OneOf(source="pytorch_lightning.accelerators:AcceleratorRegistry.available_accelerators",
                          extra=("auto", "gpu")),),
    "strategy": (OneOf(source="pytorch_lightning.strategies:StrategyRegistry.available_strategies", extra=("auto",)),),
    # seeds
    "seed": (Range(0, 2**32 - 1, note="0 is a seed like any other; null leaves the run unseeded"),),
    "split_seed": (SEED,),
    "generator_seed": (SEED,),
    # data
    "path": (Exists(),),
    "batch_size": (AT_LEAST_1,),
    "eval_batch_size": (AT_LEAST_1,),
    "steps_per_execution": (AT_LEAST_1,),
    "bucket_pool_batches": (AT_LEAST_1,),
    "val_fraction": (FRACTION,),
    "test_fraction": (FRACTION,),
    "folds": (Range(2),),
    "fold": (NON_NEGATIVE,),
    "train_size": (AT_LEAST_1,),
    "val_size": (AT_LEAST_1,),
    "test_size": (AT_LEAST_1,),
    "sequence_length": (Range(2),),
    "min_length": (AT_LEAST_1,),
    "max_length": (AT_LEAST_1,),
    "eval_min_length": (AT_LEAST_1,),
    "eval_max_length": (AT_LEAST_1,),
    "min_freq": (AT_LEAST_1,),
    "max_size": (AT_LEAST_1,),
    "max_source_length": (AT_LEAST_1,),
    "max_target_length": (AT_LEAST_1,),
    "lookback": (AT_LEAST_1,),
    "horizon": (AT_LEAST_1,),
    "season": (AT_LEAST_1,),
    "image_size": (AT_LEAST_1,),
    "resize": (AT_LEAST_1,),
    "blur": (POSITIVE,),
    "median": (AT_LEAST_1,),
    "task": (OneOf(("TASKS",)),),
    "name": (OneOf(("SKLEARN_SETS",)),),
    "scaling": (
        OneOf(("SCALINGS", "SCALERS")),
        Resolve(("fit_scaler",), lambda fit, kind: fit(kind, [[0.0], [1.0]])),
        Resolve(("ImagePreprocessing",), lambda cls, kind: cls(scaling=kind)),
    ),
    "tokenizer": (OneOf(("TOKENIZERS",)),),
    "source_tokenizer": (OneOf(("TOKENIZERS",)),),
    "target_tokenizer": (OneOf(("TOKENIZERS",)),),
    "categorical_encoding": (OneOf(("ENCODINGS",)),),
    "missing": (OneOf(("MISSING",)),),
    "augment": (Resolve(("ImageAugmentation", "SpecAugment"), lambda cls, value: cls.from_options(value)),),
    # speech
    "examples_per_word": (AT_LEAST_1,),
    "min_digits": (AT_LEAST_1,),
    "max_digits": (AT_LEAST_1,),
    "sample_rate": (Range(1000),),
    "max_duration": (POSITIVE,),
    "trim_db": (POSITIVE,),
    "layout": (OneOf(("LAYOUTS",)),),
    # The sample rate is only needed to turn milliseconds into samples; any valid one checks the rest.
    "features": (Resolve(("FeatureSettings",), lambda cls, value: cls.from_options(value, 16000)),),
    # models
    "hidden_size": (AT_LEAST_1,),
    "hidden_sizes": (AT_LEAST_1,),
    "head_sizes": (AT_LEAST_1,),
    "embedding_size": (AT_LEAST_1,),
    "decoder_hidden_size": (AT_LEAST_1,),
    "num_layers": (AT_LEAST_1,),
    "channels": (AT_LEAST_1, OneOf(("PIL_MODES",))),
    "blocks": (AT_LEAST_1,),
    "blocks_per_stage": (AT_LEAST_1,),
    "kernel_size": (AT_LEAST_1,),
    "stride": (AT_LEAST_1,),
    "pool_size": (AT_LEAST_1,),
    "width": (POSITIVE,),
    "dropout": (DROPOUT,),
    "head_dropout": (DROPOUT,),
    "activation": (ACTIVATION,),
    "head_activation": (ACTIVATION,),
    "dropout_kind": (Resolve(("dropout_class",)),),
    "head_dropout_kind": (Resolve(("dropout_class",)),),
    "norm": (Resolve(("norm_1d", "norm_2d"), lambda norm, name: norm(name, 1)),),
    "pool": (Resolve(("make_pool",), lambda pool, name: pool(name, 2)),),
    "cell": (OneOf(("CELLS",)),),
    "read_out": (OneOf(("READ_OUTS",)),),
    "nonlinearity": (OneOf(("NONLINEARITIES", "FROM_MODEL", "GAIN_NONLINEARITIES", "GAIN_STAND_INS")),),
    "bridge": (OneOf(("BRIDGES",)),),
    "attention": (OneOf(("ATTENTION_CHOICES",)),),
    "teacher_forcing_ratio": (PROBABILITY,),
    "teacher_forcing_schedule": (Resolve(("TeacherForcingSchedule",), lambda cls, value: cls(schedule=value)),),
    "teacher_forcing_decay_steps": (AT_LEAST_1,),
    "beam_size": (AT_LEAST_1,),
    "length_penalty": (NON_NEGATIVE,),
    "max_decode_factor": (POSITIVE,),
    "max_decode_extra": (NON_NEGATIVE,),
    # init, loss, regularizer
    "scheme": (OneOf(("SCHEMES",)),),
    "hidden_scheme": (OneOf(("SCHEMES",)),),
    "std": (POSITIVE,),
    "bound": (POSITIVE,),
    "embedding_std": (POSITIVE,),
    "label_smoothing": (DROPOUT,),
    "margin": (POSITIVE,),
    "delta": (POSITIVE,),
    "strength": (NON_NEGATIVE,),
    "l1_strength": (NON_NEGATIVE,),
    "l2_strength": (NON_NEGATIVE,),
    # callbacks
    "min_delta": (NON_NEGATIVE,),
    "every_n_epochs": (NEVER_IF_0,),
    "save_top_k": (Range(0, also=((-1, "every checkpoint"),)),),
    "num_examples": (AT_LEAST_1,),
    "steps_ahead": (AT_LEAST_1,),
    "line_interval_s": (POSITIVE,),
    "refresh_rate": (NON_NEGATIVE,),
    "n_startup_trials": (NON_NEGATIVE,),
    "n_warmup_steps": (NON_NEGATIVE,),
    "every_n_steps": (AT_LEAST_1,),
    "bptt_every_n_epochs": (Range(0, note="0 = at the end of training only"),),
    "saturation_threshold": (Range(0.5, 1, low_open=True, high_open=True),),
    "vanishing_ratio": (FRACTION,),
    "exploding_ratio": (Range(1, low_open=True),),
    "warn_fraction": (DROPOUT,),
    "beam_width": (AT_LEAST_1,),
    "pretrained": (Exists("run dir or checkpoint file"),),
}


# -- what a target takes ----------------------------------------------------------------------

_ABSENT = object()


@dataclass
class Param:
    name: str
    hint: Any  # a resolved annotation, or None when there is none we can read
    default: Any
    shown: str  # the annotation as written, for messages
    namespace: dict  # the globals of the function that declares it
    owner: type | None  # the class whose __init__ declares it
    module: str

    def lookup(self, name: str) -> Any:
        """A constant or function of this name where the parameter is declared."""
        if self.owner is not None:  # a class's constants (not its methods: they take self)
            found = getattr(self.owner, name, _ABSENT)
            if found is not _ABSENT and not inspect.isroutine(found):
                return found
        return self.namespace.get(name, _ABSENT)


@dataclass
class Accepts:
    label: str  # the target's dotted name
    params: dict[str, Param]
    open: bool  # takes keywords it does not name (**kwargs we cannot follow)


_ACCEPTS: dict[tuple[Any, str], Accepts | None] = {}


def accepts(target: Any, label: str) -> Accepts | None:
    """The keyword arguments `target` takes, with their annotations; None if it has no readable signature."""
    try:
        return _ACCEPTS[target, label]
    except TypeError:  # unhashable: read it every time
        return _read_accepts(target, label)
    except KeyError:
        found = _ACCEPTS[target, label] = _read_accepts(target, label)
        return found


def _read_accepts(target: Any, label: str) -> Accepts | None:
    try:
        return _accepts(target, label)
    except (TypeError, ValueError):  # builtins and other callables without a signature
        return None


def _accepts(target: Any, label: str) -> Accepts:
    params: dict[str, Param] = {}
    if not inspect.isclass(target):
        return Accepts(label, params, _add(params, target, None, skip_first=False))
    if all("__init__" not in cls.__dict__ for cls in target.__mro__[:-1]):  # a __new__ of its own, say
        return Accepts(label, params, _add(params, target, None, skip_first=False))
    for cls in target.__mro__:
        if cls is object:
            return Accepts(label, params, False)
        init = cls.__dict__.get("__init__")
        if init is None:
            continue
        if not _add(params, init, cls, skip_first=True):
            return Accepts(label, params, False)
        if not _forwards_kwargs(init):  # its **kwargs go elsewhere (DDPStrategy's to DDP): anything goes
            return Accepts(label, params, True)
    return Accepts(label, params, True)


def _add(params: dict[str, Param], function: Callable, owner: type | None, skip_first: bool) -> bool:
    """Add `function`'s keyword parameters (a subclass's come first and win); True if it takes **kwargs."""
    signature = inspect.signature(function)
    hints = _hints(function)
    unwrapped = inspect.unwrap(function)
    namespace = getattr(unwrapped, "__globals__", {})
    module = getattr(unwrapped, "__module__", "") or ""
    takes_any = False
    for i, (name, parameter) in enumerate(signature.parameters.items()):
        if skip_first and i == 0:
            continue
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            takes_any = True
        if parameter.kind in _NOT_BY_KEYWORD or name in params:
            continue
        annotation = parameter.annotation
        hint = hints.get(name, None) if annotation is not EMPTY else _hint_from_default(parameter.default)
        shown = annotation if isinstance(annotation, str) else _type_name(annotation) if annotation is not EMPTY else ""
        params[name] = Param(name, hint, parameter.default, shown, namespace, owner, module)
    return takes_any


_NOT_BY_KEYWORD = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD, inspect.Parameter.POSITIONAL_ONLY)


def _hints(function: Callable) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function)
    except Exception:  # one annotation that does not resolve (a name imported for type checking only)
        pass
    namespace = getattr(inspect.unwrap(function), "__globals__", {})
    hints = {}
    for name, annotation in getattr(function, "__annotations__", {}).items():
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, dict(namespace))  # noqa: S307 - what get_type_hints does, one at a time
            except Exception:
                annotation = None
        hints[name] = annotation
    return hints


def _hint_from_default(default: Any) -> Any:
    """An unannotated parameter is taken to be of its default's kind (a number for 0, a list for ())."""
    if isinstance(default, bool):
        return bool
    if isinstance(default, int | float):
        return float
    if isinstance(default, str):
        return str
    if isinstance(default, list | tuple):
        return abc.Sequence
    return None


def _forwards_kwargs(init: Callable) -> bool:
    """Whether an __init__ passes its **kwargs on to a base class's __init__ (whose arguments are then its own)."""
    parameters = inspect.signature(init).parameters.values()
    kwargs = next(p.name for p in parameters if p.kind is inspect.Parameter.VAR_KEYWORD)
    try:
        source = inspect.getsource(init)
    except (OSError, TypeError):
        return False
    call = r"\.__init__\((?:[^()]|\([^()]*\))*\*\*" + re.escape(str(kwargs)) + r"\b"  # super().__init__(..., **kwargs)
    return re.search(call, source) is not None


# -- types ------------------------------------------------------------------------------------


def conforms(value: Any, hint: Any) -> bool | None:
    """Whether a config value (after resolving: None, bool, int, float, str, list, dict) can be of
    type `hint`; None when the type says nothing we can check (a class of its own, a Callable)."""
    if hint is None or hint is Any or hint is object or hint is EMPTY:
        return None
    if hint is type(None):
        return value is None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        results = [conforms(value, a) for a in args]
        return True if True in results else None if None in results else False
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin is typing.Annotated:
        return conforms(value, args[0])
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return _is_number(value)
    if hint is str:
        return isinstance(value, str)
    cls = origin or hint
    if not isinstance(cls, type) or cls is abc.Callable or cls is type:
        return None
    if issubclass(cls, PurePath) or cls is os.PathLike:
        return isinstance(value, str)
    if issubclass(cls, enum.Enum):
        return any(value in (member.name, member.value) for member in cls)
    if issubclass(cls, (str, bytes)):
        return isinstance(value, str)
    if _is_container(cls, abc.Mapping):
        if not isinstance(value, dict):
            return False
        if len(args) != 2:
            return True
        return _all([conforms(k, args[0]) for k in value] + [conforms(v, args[1]) for v in value.values()])
    if _is_container(cls, abc.Iterable):
        if not isinstance(value, list):
            return False
        if issubclass(cls, tuple) and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and _all([conforms(v, a) for v, a in zip(value, args)])
        return _all([conforms(v, args[0]) for v in value]) if args else True
    if isinstance(value, cls):
        return True
    # A plain number or switch is never an instance of a class of its own (a Tensor, say); a
    # string or a mapping may be something that class's user turns into one.
    return False if isinstance(value, bool | int | float) or value is None else None


def _is_container(cls: type, kind: type) -> bool:
    """A list or a mapping as Python spells them (list, Sequence[int], dict, ...), not some class
    that happens to be iterable (a Tensor)."""
    plain = cls.__module__ in ("builtins", "collections", "collections.abc", "typing")
    if not plain or not issubclass(cls, kind) or issubclass(cls, (str, bytes)):
        return False
    return kind is abc.Mapping or not issubclass(cls, abc.Mapping)


def _all(results: list[bool | None]) -> bool | None:
    return False if False in results else None if None in results else True


def describe(hint: Any, plural: bool = False) -> str:
    """A type in words: 'a whole number or null', 'a list of whole numbers', 'one of 16, 32'."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        members = [a for a in args if a is not type(None)]
        # A class of its own (a Tensor) is not something a config writes: name the rest.
        members = [a for a in members if not _foreign(a)] or members
        literals = [v for a in members if typing.get_origin(a) is typing.Literal for v in typing.get_args(a)]
        words = _unique(describe(a, plural) for a in members if typing.get_origin(a) is not typing.Literal)
        if literals:
            words.insert(0, "one of " + ", ".join(_unique(show_plain(v) for v in literals)))
        if type(None) in args:
            words.append("null")
        return " or ".join(words)
    if origin is typing.Literal:
        return "one of " + ", ".join(show_plain(a) for a in args)
    if origin is typing.Annotated:
        return describe(args[0], plural)
    if hint is type(None):
        return "null"
    simple = {bool: ("true or false", "true/false values"), int: ("a whole number", "whole numbers"),
              float: ("a number", "numbers"), str: ("a string", "strings")}
    if hint in simple:
        return simple[hint][plural]
    cls = origin or hint
    if isinstance(cls, type):
        if issubclass(cls, PurePath) or cls is os.PathLike:
            return "paths" if plural else "a path"
        if issubclass(cls, enum.Enum):
            return "one of " + ", ".join(m.name for m in cls)
        if _is_container(cls, abc.Mapping):
            inner = f" of {describe(args[1], True)}" if len(args) == 2 else ""
            return f"mappings{inner}" if plural else f"a mapping{inner}"
        if _is_container(cls, abc.Iterable):
            if issubclass(cls, tuple) and args and args[-1] is not Ellipsis:
                same = len(set(args)) == 1
                inner = f" of {len(args)} " + (describe(args[0], True) if same else "values")
            else:
                inner = f" of {describe(args[0], True)}" if args else ""
            return f"lists{inner}" if plural else f"a list{inner}"
        return f"{cls.__name__} objects" if plural else f"a {cls.__name__}"
    return str(hint)


def _foreign(hint: Any) -> bool:
    cls = typing.get_origin(hint) or hint
    if not isinstance(cls, type) or cls in (bool, int, float, str, type(None)) or issubclass(cls, PurePath | enum.Enum):
        return False
    return not (_is_container(cls, abc.Mapping) or _is_container(cls, abc.Iterable))


def _unique(words: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for word in words:
        if word not in seen:
            seen.append(word)
    return seen


def _wants_number(hint: Any) -> bool:
    members = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    return any(m in (int, float) for m in members)


def _wants_whole(hint: Any) -> bool:
    if hint is int:
        return True
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        members = [a for a in args if a is not type(None)]
        return bool(members) and all(_wants_whole(a) for a in members)
    if isinstance(origin, type) and issubclass(origin, abc.Iterable) and args:
        return _wants_whole(args[0])
    return False


# -- the walk ---------------------------------------------------------------------------------


def check_values(cfg: DictConfig, skip: Iterable[str] = ()) -> None:
    """Raise ConfigError for the first value of the (composed) config that its receiver would refuse.

    `skip`: keys whose values are left to the jobs (the values a multirun sweeps)."""
    values = OmegaConf.to_container(job_config(cfg), resolve=True)
    skipped = set(skip)
    for key, hint in TOP_LEVEL.items():
        if key in values and key not in skipped:
            param = Param(key, hint, EMPTY, "", {}, None, __name__)
            check_value(key, values[key], param, "dlrun")
    _walk(values, "", skipped)


def _walk(node: Any, path: str, skip: set[str]) -> None:
    if isinstance(node, dict):
        if isinstance(node.get("_target_"), str) and node["_target_"]:
            check_node(node, path, skip)
        for key, value in node.items():
            _walk(value, f"{path}.{key}" if path else str(key), skip)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _walk(value, f"{path}[{i}]", skip)


def check_node(node: dict, path: str, skip: set[str] = frozenset()) -> None:
    """The keys of one `_target_` node against the arguments its target takes."""
    name = node["_target_"]
    target = _locate(name, f"{path}._target_")
    takes = accepts(target, name)
    if takes is None:
        return
    popped_keys, receiver = _popped(path)
    for key, value in node.items():
        key = str(key)
        if key in HYDRA_KEYS:
            continue
        where = f"{path}.{key}"
        if key in popped_keys:
            param = receiver.params.get(key) if receiver is not None else None
        else:
            param = takes.params.get(key)
            if param is None and not takes.open:
                raise _not_an_argument(where, key, path, takes, popped_keys)
        if where not in skip:
            check_value(where, value, param, name)


def check_value(where: str, value: Any, param: Param | None, label: str) -> None:
    """One value against its parameter's type (when there is a parameter and a type) and RULES."""
    if value == MISSING:
        raise ConfigError(f"{where} has no value ('???' in the config): set it, e.g. {where}=VALUE.")
    if isinstance(value, dict) and value.get("_target_"):
        return  # built by Hydra first; the walk checks its own keys
    typed = None
    if param is not None and param.hint is not None:
        typed = conforms(value, param.hint)
        if typed is False and param.default is not EMPTY and conforms(param.default, param.hint) is False:
            typed = None if type(value) is type(param.default) else False  # the annotation leaves out its own default
        if typed is False:
            written = f" ({label} takes {param.name}: {param.shown})" if 0 < len(param.shown) <= 80 else ""
            quote = ""
            if _is_number(value) and conforms(str(value), param.hint) and not _wants_number(param.hint):
                # Hydra reads data.target=1 as a number
                quote = f" To give the text {value}, quote it: \"{where}='{value}'\"."
            raise ConfigError(f"{where} must be {describe(param.hint)}, got {show(value)}{written}.{quote}")
    if value is None:
        return
    for rule in RULES.get(where.rsplit(".", 1)[-1], ()):
        if param is None and isinstance(rule, OneOf | Resolve):
            continue
        rule.check(where, value, param, typed)


def takes_argument(node: Any, path: str, key: str) -> str | None:
    """The target of the node at `path` if it takes argument `key` (a key the config leaves out)."""
    name = node.get("_target_") if isinstance(node, Mapping | DictConfig) else None
    if not isinstance(name, str) or not name:
        return None
    try:
        takes = accepts(_locate(name, f"{path}._target_"), name)
        popped, receiver = _popped(path)
    except ConfigError:
        return None
    if key in popped:
        takes = receiver
    if takes is None or key not in takes.params:
        return None
    param = takes.params[key]
    return f"{takes.label} takes it ({key}: {param.shown})" if 0 < len(param.shown) <= 80 else f"{takes.label} takes it"


def _not_an_argument(where: str, key: str, path: str, takes: Accepts, popped: tuple[str, ...]) -> ConfigError:
    names = sorted(set(takes.params) | set(popped))
    suggestion = did_you_mean(key, names)
    if suggestion:
        suggestion = suggestion.replace("Did you mean ", f"Did you mean {path}.")
    taken = ", ".join(names) or "no arguments"
    return ConfigError(f"{where} is not an argument of {takes.label}, which takes: {taken}.{suggestion}")


def _popped(path: str) -> tuple[tuple[str, ...], Accepts | None]:
    if path not in POPPED:
        return (), None
    keys, receiver = POPPED[path]
    target = _import(receiver)
    return tuple(_import(keys)), accepts(target, receiver.replace(":", "."))


def _locate(name: str, where: str) -> Any:
    from hydra.utils import get_object

    try:
        return get_object(name)
    except Exception as e:  # the user's module may fail in any way as it imports
        cause = e.__cause__ or e
        raise ConfigError(f"{where} '{name}' cannot be imported: {' '.join(str(cause).split())}") from None


def _import(reference: str) -> Any:
    module, _, attribute = reference.partition(":")
    found: Any = importlib.import_module(module)
    for part in attribute.split("."):
        found = getattr(found, part)
    return found


def _optimizer() -> Any:
    """A throwaway optimizer over one number, for a schedule to be built on."""
    import torch

    return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)


# -- showing values ---------------------------------------------------------------------------


def show(value: Any) -> str:
    """A value as a config writes it: null, true, 'text', [1, 2]."""
    if isinstance(value, str):
        return f"'{value}'"
    return show_plain(value)


def show_plain(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")
