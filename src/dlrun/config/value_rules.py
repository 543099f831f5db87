"""RULES: what a parameter of a given name must be, beyond what its type says, and the rules it is made of.

A fixed choice is no rule: it is a `Literal[...]` in the signature that takes it (see dlrun.choices)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlrun.choices import choices_of
from dlrun.config.hints import is_number, wants_whole
from dlrun.config.show import show, show_plain
from dlrun.config.signatures import ABSENT, Param, import_reference
from dlrun.errors import ConfigError, DlrunError, unknown_choice


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
        whole = param is not None and wants_whole(param.hint)
        for entry in entries:
            if is_number(entry):
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
        if not is_number(value):
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
    """One of the names a registry of another package holds when the run starts (Lightning's
    accelerators, say), for that package's own targets: `source` ("package.module:NAME") is the
    registry (a tuple, a dict's keys, or a function that returns one), `extra` adds names it lacks."""

    source: str
    extra: tuple[str, ...] = ()

    def check(self, where: str, value: Any, param: Param | None, typed: bool | None) -> None:
        if value is None or param is None or isinstance(value, (dict, list)):
            return
        choices = self.choices(param)
        if choices is not None and value not in choices:
            raise unknown_choice(where, show_plain(value), [show_plain(c) for c in choices])

    def choices(self, param: Param) -> list[Any] | None:
        if not param.module.startswith(self.source.partition(":")[0].split(".")[0]):
            return None
        registry = import_reference(self.source)
        names = list(registry() if callable(registry) else registry)
        return [*self.extra, *(n for n in names if n not in self.extra)]


@dataclass(frozen=True)
class Choice:
    """One of the values of dlrun's `Literal` `source` ("package.module:Name"), for a value whose
    receiving signature says less (Lightning's trainer.gradient_clip_algorithm is a `str`) and that
    dlrun acts on itself."""

    source: str

    def check(self, where: str, value: Any, param: Param | None, typed: bool | None) -> None:
        choices = choices_of(import_reference(self.source)) or ()
        if value is not None and value not in choices:
            raise unknown_choice(where, show_plain(value), [show_plain(c) for c in choices])


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
            if function is ABSENT or not callable(function):
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


Rule = Range | FractionOrCount | OneOf | Choice | Resolve | Exists

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
    "lr_scale": (Range(0, low_open=True, note="transfer.freeze keeps weights fixed"),),
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
    "gradient_clip_algorithm": (Choice("dlrun.tasks.stepping:ClipAlgorithm"),),
    "limit_train_batches": (FractionOrCount(PROBABILITY, NON_NEGATIVE),),
    "limit_val_batches": (FractionOrCount(PROBABILITY, NON_NEGATIVE),),
    "limit_test_batches": (FractionOrCount(PROBABILITY, NON_NEGATIVE),),
    "limit_predict_batches": (FractionOrCount(PROBABILITY, NON_NEGATIVE),),
    "overfit_batches": (FractionOrCount(PROBABILITY, NON_NEGATIVE),),
    "val_check_interval": (FractionOrCount(Range(0, 1, low_open=True), AT_LEAST_1, "training batches"),),
    "num_nodes": (AT_LEAST_1,),
    "threads": (Range(1, note="or auto"),),
    "devices": (Range(0, also=((-1, "every device"),)),),
    # Lightning's names for its accelerators and strategies; "gpu" is its alias for cuda or mps.
    "accelerator": (
        OneOf(
            source="pytorch_lightning.accelerators:AcceleratorRegistry.available_accelerators", extra=("auto", "gpu")
        ),
    ),
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
    "augment": (Resolve(("ImageAugmentation", "SpecAugment"), lambda cls, value: cls.from_options(value)),),
    # speech
    "examples_per_word": (AT_LEAST_1,),
    "min_digits": (AT_LEAST_1,),
    "max_digits": (AT_LEAST_1,),
    "sample_rate": (Range(1000),),
    "max_duration": (POSITIVE,),
    "trim_db": (POSITIVE,),
    # The sample rate is only needed to turn milliseconds into samples; any valid one checks the rest.
    "features": (Resolve(("FeatureSettings",), lambda cls, value: cls.from_options(value, 16000)),),
    # models
    "hidden_size": (AT_LEAST_1,),
    "hidden_sizes": (AT_LEAST_1,),
    "head_sizes": (AT_LEAST_1,),
    "embedding_size": (AT_LEAST_1,),
    "decoder_hidden_size": (AT_LEAST_1,),
    "num_layers": (AT_LEAST_1,),
    "channels": (AT_LEAST_1,),
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
    "teacher_forcing_ratio": (PROBABILITY,),
    "teacher_forcing_decay_steps": (AT_LEAST_1,),
    "beam_size": (AT_LEAST_1,),
    "length_penalty": (NON_NEGATIVE,),
    "max_decode_factor": (POSITIVE,),
    "max_decode_extra": (NON_NEGATIVE,),
    # init, loss, regularizer
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
    "time_budget": (Range(0, 1, low_open=True),),
    "beam_width": (AT_LEAST_1,),
    "pretrained": (Exists("run dir or checkpoint file"),),
}


def _optimizer() -> Any:
    """A throwaway optimizer over one number, for a schedule to be built on."""
    import torch

    return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)
