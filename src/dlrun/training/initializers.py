"""Weight initialization schemes by name (`init=he_normal`), applied to a model once it is built.

The schemes that scale with the activation (xavier, he, orthogonal) take their gain from the
model's `nonlinearity` and `nonlinearity_param` attributes (see dlrun.models.layers.describe_activation),
so `init=he_normal` suits `model.activation=tanh` as well as relu.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from dlrun.errors import did_you_mean
from dlrun.training.layer_kinds import DENSE_AND_CONV_LAYERS

SCHEMES = (
    "zeros",
    "normal",
    "uniform",
    "xavier_uniform",
    "xavier_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "orthogonal",
)

# Norm layers are left out on purpose: their weight 1 and bias 0 make them start as the identity.
INITIALIZED_LAYERS = DENSE_AND_CONV_LAYERS

# calculate_gain knows none of these. ELU, GELU and SiLU behave like ReLU where it matters for the
# variance (identity for large inputs, about zero for very negative ones); PReLU is a leaky ReLU
# whose slope starts at its `init` (He et al., 2015 derive its gain from that slope).
GAIN_STAND_INS = {"elu": "relu", "gelu": "relu", "silu": "relu", "prelu": "leaky_relu"}
GAIN_NONLINEARITIES = ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu")
DEFAULT_LEAKY_SLOPE = 0.01  # calculate_gain's and nn.LeakyReLU's default


class Initializer:
    """Initializes the weights of every Linear and Conv layer of a model by `scheme`; biases become 0.

    `std` is the standard deviation of the `normal` scheme and `bound` the half-width of the
    `uniform` one; the other schemes derive their spread from the layer's fan-in/fan-out and the
    gain of the model's activation (ReLU's if the model does not say).
    """

    def __init__(self, scheme: str, std: float | None = None, bound: float | None = None) -> None:
        if scheme not in SCHEMES:
            raise ValueError(
                f"unknown init scheme '{scheme}'; choose one of: {', '.join(SCHEMES)}.{did_you_mean(str(scheme), SCHEMES)}"
            )
        _check_spread("std", std, scheme, needed_by="normal")
        _check_spread("bound", bound, scheme, needed_by="uniform")
        self.scheme = scheme
        self.std = std
        self.bound = bound

    def __call__(self, model: nn.Module) -> None:
        nonlinearity, slope = gain_arguments(model)
        layers = [m for m in model.modules() if isinstance(m, INITIALIZED_LAYERS)]
        if not layers:
            raise ValueError(
                f"init={self.scheme} found no Linear or Conv layer in {type(model).__name__} to initialize; "
                "use init=default to keep the model's own initialization"
            )
        for layer in layers:
            self._init_weight(layer.weight, nonlinearity, slope)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)

    def _init_weight(self, weight: Tensor, nonlinearity: str, slope: float) -> None:
        gain = nn.init.calculate_gain(nonlinearity, slope)
        scheme = self.scheme
        if scheme == "zeros":
            nn.init.zeros_(weight)
        elif scheme == "normal":
            nn.init.normal_(weight, mean=0.0, std=self.std)
        elif scheme == "uniform":
            nn.init.uniform_(weight, -self.bound, self.bound)
        elif scheme == "xavier_uniform":
            nn.init.xavier_uniform_(weight, gain=gain)
        elif scheme == "xavier_normal":
            nn.init.xavier_normal_(weight, gain=gain)
        elif scheme == "he_uniform":
            nn.init.kaiming_uniform_(weight, a=slope, mode="fan_in", nonlinearity=nonlinearity)
        elif scheme == "he_normal":
            nn.init.kaiming_normal_(weight, a=slope, mode="fan_in", nonlinearity=nonlinearity)
        elif scheme == "lecun_uniform":  # variance 1/fan_in whatever the activation
            nn.init.kaiming_uniform_(weight, mode="fan_in", nonlinearity="linear")
        elif scheme == "lecun_normal":
            nn.init.kaiming_normal_(weight, mode="fan_in", nonlinearity="linear")
        elif scheme == "orthogonal":
            nn.init.orthogonal_(weight, gain=gain)

    def __repr__(self) -> str:
        spread = {"normal": f", std={self.std}", "uniform": f", bound={self.bound}"}.get(self.scheme, "")
        return f"Initializer({self.scheme!r}{spread})"


def gain_arguments(model: nn.Module) -> tuple[str, float]:
    """(nonlinearity, negative slope) to hand to torch.nn.init for `model`'s activation.

    The slope only matters for leaky_relu; kaiming_* take it as `a` and calculate_gain as `param`.
    """
    name = getattr(model, "nonlinearity", None) or "relu"
    param = getattr(model, "nonlinearity_param", None)
    nonlinearity = GAIN_STAND_INS.get(name, name)
    if nonlinearity not in GAIN_NONLINEARITIES:
        known = (*GAIN_NONLINEARITIES, *GAIN_STAND_INS)
        raise ValueError(
            f"{type(model).__name__}.nonlinearity is '{name}', which has no known gain; set it to one of: "
            f"{', '.join(known)}.{did_you_mean(str(name), known)}"
        )
    if nonlinearity != "leaky_relu":
        return nonlinearity, 0.0
    slope = DEFAULT_LEAKY_SLOPE if param is None else param
    if not isinstance(slope, int | float) or isinstance(slope, bool) or not math.isfinite(slope):
        raise ValueError(
            f"{type(model).__name__}.nonlinearity_param must be the leaky slope (a number), got {slope!r}"
        )
    return nonlinearity, float(slope)


def _check_spread(key: str, value: float | None, scheme: str, needed_by: str) -> None:
    if scheme != needed_by:
        if value is not None:
            raise ValueError(f"init {key} only applies to init={needed_by}; init={scheme} sets its own spread")
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"init={needed_by} needs a positive {key}, got {value!r}")
