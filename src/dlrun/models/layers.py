"""Building blocks shared by the model families: activations and normalization by name."""

from __future__ import annotations

from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}

NORMS = ("batch", "layer")


def activation(name: str) -> nn.Module:
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(_unknown("activation", name, ACTIVATIONS)) from None


def norm_1d(name: str, features: int) -> nn.Module:
    """Normalization over the features of a dense layer's output."""
    if name == "batch":
        return nn.BatchNorm1d(features)
    if name == "layer":
        return nn.LayerNorm(features)
    raise ValueError(_unknown("norm", name, NORMS))


def norm_2d(name: str, channels: int) -> nn.Module:
    """Normalization over the channels of a convolution's output (layer norm: over C, H and W)."""
    if name == "batch":
        return nn.BatchNorm2d(channels)
    if name == "layer":
        return nn.GroupNorm(1, channels)
    raise ValueError(_unknown("norm", name, NORMS))


def _unknown(what: str, name: object, choices) -> str:
    return f"unknown {what} '{name}'; choose one of: {', '.join(choices)} (or null for none)"
