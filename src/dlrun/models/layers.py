"""Building blocks shared by the model families: activations, dropout and normalization by name."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

from torch import nn

from dlrun.choices import check_choice
from dlrun.errors import did_you_mean


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_positive_number(value: object) -> bool:
    return _is_number(value) and value > 0


def _is_gelu_approximation(value: object) -> bool:
    return value in ("none", "tanh")


@dataclass(frozen=True)
class Argument:
    """One constructor argument of an activation a config may set, with what a valid value is."""

    valid: Callable[[object], bool]
    expected: str


@dataclass(frozen=True)
class Activation:
    module: type[nn.Module]
    arguments: Mapping[str, Argument]


NUMBER = Argument(_is_number, "a number")

ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation(nn.Sigmoid, {}),
    "tanh": Activation(nn.Tanh, {}),
    "relu": Activation(nn.ReLU, {}),
    "leaky_relu": Activation(nn.LeakyReLU, {"negative_slope": NUMBER}),
    "prelu": Activation(
        nn.PReLU,
        {
            "num_parameters": Argument(_is_positive_int, "1 (one learned slope) or the layer's width"),
            "init": NUMBER,
        },
    ),
    "elu": Activation(nn.ELU, {"alpha": Argument(_is_positive_number, "a positive number")}),
    "selu": Activation(nn.SELU, {}),
    "gelu": Activation(nn.GELU, {"approximate": Argument(_is_gelu_approximation, "none or tanh")}),
    "silu": Activation(nn.SiLU, {}),
}

# The parameter that sets the slope for negative inputs, which the initializers' gain depends on.
SLOPE_PARAMETERS = {"leaky_relu": ("negative_slope", 0.01), "prelu": ("init", 0.25)}

DropoutKind = Literal["standard", "alpha"]
DROPOUTS: dict[DropoutKind, type[nn.Module]] = {
    "standard": nn.Dropout,
    # Keeps the mean and variance of its input, so SELU networks stay self-normalizing.
    "alpha": nn.AlphaDropout,
}

NormKind = Literal["batch", "layer"]


def make_activation(spec: str | Mapping[str, Any], features: int | None = None) -> nn.Module:
    """The activation `spec` names: "relu", or a mapping such as {name: leaky_relu, negative_slope: 0.2}.

    `features` is the width (or channel count) of the layer it follows, when the caller knows it:
    prelu's num_parameters must then be 1 or that width.
    """
    name, params = _parse(spec)
    num_parameters = params.get("num_parameters", 1)
    if features is not None and num_parameters not in (1, features):
        raise ValueError(
            f"prelu num_parameters must be 1 (one slope for the layer) or {features} (one per feature "
            f"of the layer it follows), got {num_parameters}"
        )
    return ACTIVATIONS[name].module(**params)


def describe_activation(spec: str | Mapping[str, Any]) -> tuple[str, float | None]:
    """(name, slope for negative inputs) of `spec`, as models record it for the initializers' gain.

    The slope is leaky_relu's negative_slope or prelu's initial slope (He et al., 2015 derive the
    gain of both from it), and None for every other activation.
    """
    name, params = _parse(spec)
    if name not in SLOPE_PARAMETERS:
        return name, None
    key, default = SLOPE_PARAMETERS[name]
    return name, float(params.get(key, default))


def _parse(spec: str | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if isinstance(spec, Mapping):
        params = {str(key): value for key, value in spec.items()}
        if "name" not in params:
            raise ValueError(
                f"an activation given as a mapping needs a 'name' (one of: {', '.join(ACTIVATIONS)}), "
                f"got keys {', '.join(params) or 'none'}"
            )
        name = params.pop("name")
    else:
        name, params = spec, {}
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation '{name}'; choose one of: {', '.join(ACTIVATIONS)}.{did_you_mean(str(name), ACTIVATIONS)}"
        )
    allowed = ACTIVATIONS[name].arguments
    for key, value in params.items():
        if key not in allowed:
            takes = f"takes {', '.join(allowed)}" if allowed else "takes no parameters"
            raise ValueError(f"activation {name} {takes}, got '{key}'.{did_you_mean(key, allowed)}")
        if not allowed[key].valid(value):
            raise ValueError(f"activation {name}: {key} must be {allowed[key].expected}, got {value!r}")
    return name, params


def dropout_class(kind: DropoutKind) -> type[nn.Module]:
    """nn.Dropout for "standard", nn.AlphaDropout for "alpha" (the one to pair with SELU)."""
    check_choice("dropout kind", kind, DropoutKind)
    return DROPOUTS[kind]


def norm_1d(name: NormKind, features: int) -> nn.Module:
    """Normalization over the features of a dense layer's output."""
    check_choice("norm", name, NormKind)
    return nn.BatchNorm1d(features) if name == "batch" else nn.LayerNorm(features)


def norm_2d(name: NormKind, channels: int) -> nn.Module:
    """Normalization over the channels of a convolution's output (layer norm: over C, H and W)."""
    check_choice("norm", name, NormKind)
    return nn.BatchNorm2d(channels) if name == "batch" else nn.GroupNorm(1, channels)


def require_image_shape(input_shape, family: str) -> None:
    """Convolutional families need (channels, height, width) examples."""
    if len(input_shape) != 3:
        raise ValueError(
            f"{family} needs image data of shape (channels, height, width); this data serves "
            f"examples of shape {tuple(input_shape)}; use model=mlp for tabular data."
        )
