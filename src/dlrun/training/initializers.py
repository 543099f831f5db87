"""Weight initialization schemes by name (`init=he_normal`), applied to a model once it is built.

The schemes that scale with the activation (xavier, he, orthogonal) take their gain from the
model's `nonlinearity` and `nonlinearity_param` attributes (see dlrun.models.layers.describe_activation),
so `init=he_normal` suits `model.activation=tanh` as well as relu. A model that declares no
activation needs `init.nonlinearity` set: there is no silent default gain.

Recurrent layers (RNN, LSTM, GRU) are initialized gate by gate: each gate's input-to-hidden block
by `scheme`, each hidden-to-hidden block by `hidden_scheme` (orthogonal by default: its singular
values are all 1, so repeated multiplication neither shrinks nor blows up the state). The gain of a
gated cell (LSTM, GRU) is 1: its sigmoid and tanh squash pre-activations near 0, where they are
about linear (Keras' defaults agree); an Elman RNN's gain is that of its own nonlinearity. Biases
start at 0 except the LSTM forget gate's, which `forget_bias` sets (1.0 keeps the memory open at
the start, Jozefowicz et al. 2015). Embeddings keep PyTorch's N(0, 1) unless `embedding_std` is set;
their padding row stays 0.
"""

from __future__ import annotations

import math
from typing import Final, Literal, cast, get_args

import torch
from torch import Tensor, nn

from dlrun.checks import check_number
from dlrun.choices import check_choice
from dlrun.errors import did_you_mean
from dlrun.training.layer_kinds import DENSE_AND_CONV_LAYERS, RECURRENT_LAYERS

Scheme = Literal[
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
]
SCHEMES = get_args(Scheme)

# Norm layers are left out on purpose: their weight 1 and bias 0 make them start as the identity.
INITIALIZED_LAYERS = DENSE_AND_CONV_LAYERS

# calculate_gain knows none of these. ELU, GELU and SiLU behave like ReLU where it matters for the
# variance (identity for large inputs, about zero for very negative ones); PReLU is a leaky ReLU
# whose slope starts at its `init` (He et al., 2015 derive its gain from that slope).
GainNonlinearity = Literal["linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]
GainStandIn = Literal["elu", "gelu", "silu", "prelu"]
GAIN_STAND_INS: dict[str, GainNonlinearity] = {"elu": "relu", "gelu": "relu", "silu": "relu", "prelu": "leaky_relu"}
GAIN_NONLINEARITIES = get_args(GainNonlinearity)
DEFAULT_LEAKY_SLOPE = 0.01  # calculate_gain's and nn.LeakyReLU's default
GAIN_SCHEMES = ("xavier_uniform", "xavier_normal", "he_uniform", "he_normal", "orthogonal")
FROM_MODEL: Final = "model"  # init.nonlinearity: the activation the model declares
LSTM_FORGET_GATE = 1  # torch orders an LSTM's gates input, forget, cell, output


class Initializer:
    """Initializes every Linear, Conv, recurrent and embedding layer of a model by `scheme`.

    `std` is the standard deviation of the `normal` scheme and `bound` the half-width of the
    `uniform` one; the other schemes derive their spread from the layer's fan-in/fan-out and the
    gain of `nonlinearity` ("model": the activation the model declares). Recurrent layers and
    embeddings: see the module's docstring.
    """

    def __init__(
        self,
        scheme: Scheme,
        std: float | None = None,
        bound: float | None = None,
        hidden_scheme: Scheme | None = "orthogonal",
        forget_bias: float | None = None,
        embedding_std: float | None = None,
        # Checked where the gain is taken (_gain_arguments), which checks a model's own activation too.
        nonlinearity: Literal["model"] | GainNonlinearity | GainStandIn = FROM_MODEL,
    ) -> None:
        check_choice("init scheme", scheme, Scheme)
        check_choice("init.hidden_scheme", hidden_scheme, Scheme, null_means="the same as init.scheme")
        _check_spread("std", std, scheme, needed_by="normal", also=hidden_scheme)
        _check_spread("bound", bound, scheme, needed_by="uniform", also=hidden_scheme)
        check_number(
            "init.forget_bias", forget_bias, null_means="to leave the forget gate's bias at 0", error=ValueError
        )
        check_number("init.embedding_std", embedding_std, above=0, null_means="to keep N(0, 1)", error=ValueError)
        self.scheme = scheme
        self.std = std
        self.bound = bound
        self.hidden_scheme = hidden_scheme or scheme
        self.forget_bias = forget_bias
        self.embedding_std = embedding_std
        self.nonlinearity = nonlinearity

    def __call__(self, model: nn.Module) -> None:
        dense = [m for m in model.modules() if isinstance(m, INITIALIZED_LAYERS)]
        recurrent = [m for m in model.modules() if isinstance(m, RECURRENT_LAYERS)]
        embeddings = [m for m in model.modules() if isinstance(m, nn.Embedding)]
        if not (dense or recurrent or embeddings):
            raise ValueError(
                f"init={self.scheme} found no Linear, Conv, recurrent or Embedding layer in {type(model).__name__} "
                "to initialize; use init=default to keep the model's own initialization"
            )
        if dense:
            # Only the schemes that scale with the activation need to know it.
            nonlinearity, slope = self.gain_arguments(model) if self.scheme in GAIN_SCHEMES else ("linear", 0.0)
            for layer in dense:
                self._init_weight(self.scheme, layer.weight, nonlinearity, slope)
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
        for rnn in recurrent:
            self._init_recurrent(rnn)
        if self.embedding_std is not None:
            for embedding in embeddings:
                nn.init.normal_(embedding.weight, std=self.embedding_std)
                if embedding.padding_idx is not None:
                    with torch.no_grad():
                        embedding.weight[embedding.padding_idx].zero_()

    def gain_arguments(self, model: nn.Module) -> tuple[GainNonlinearity, float]:
        if self.nonlinearity != FROM_MODEL:
            return _gain_arguments(self.nonlinearity, None, "init.nonlinearity")
        return gain_arguments(model)

    def _init_recurrent(self, layer: nn.RNNBase) -> None:
        # A gated cell's gain is 1; an Elman RNN's is its own nonlinearity's (see the module docstring).
        nonlinearity: GainNonlinearity = (
            getattr(layer, "nonlinearity", "linear") if isinstance(layer, nn.RNN) else "linear"
        )
        for name, parameter in layer.named_parameters():
            gates = parameter.chunk(_gate_count(layer), dim=0)
            if name.startswith("weight_ih"):
                for gate in gates:
                    self._init_weight(self.scheme, gate, nonlinearity, 0.0)
            elif name.startswith("weight_hh"):
                for gate in gates:
                    self._init_weight(self.hidden_scheme, gate, nonlinearity, 0.0)
            elif name.startswith("bias"):
                nn.init.zeros_(parameter)
                if self.forget_bias is not None and isinstance(layer, nn.LSTM) and name.startswith("bias_ih"):
                    nn.init.constant_(gates[LSTM_FORGET_GATE], self.forget_bias)
            # weight_hr (LSTM projections) keeps torch's initialization

    def _init_weight(self, scheme: str, weight: Tensor, nonlinearity: GainNonlinearity, slope: float) -> None:
        gain = nn.init.calculate_gain(nonlinearity, slope)
        with torch.no_grad():
            if scheme == "zeros":
                nn.init.zeros_(weight)
            elif scheme == "normal":
                assert self.std is not None  # _check_spread requires it for this scheme
                nn.init.normal_(weight, mean=0.0, std=self.std)
            elif scheme == "uniform":
                assert self.bound is not None  # _check_spread requires it for this scheme
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
        return f"Initializer({self.scheme!r}{spread}, hidden_scheme={self.hidden_scheme!r})"


def _gate_count(layer: nn.RNNBase) -> int:
    return {"LSTM": 4, "GRU": 3}.get(layer.mode, 1)


def gain_arguments(model: nn.Module) -> tuple[GainNonlinearity, float]:
    """(nonlinearity, negative slope) to hand to torch.nn.init for `model`'s activation.

    The slope only matters for leaky_relu; kaiming_* take it as `a` and calculate_gain as `param`.
    """
    name = getattr(model, "nonlinearity", None)
    if not name:
        raise ValueError(
            f"{type(model).__name__} declares no activation (a `nonlinearity` attribute), so the gain of "
            f"the scheme is unknown; set init.nonlinearity to the activation its layers use "
            f"({', '.join(GAIN_NONLINEARITIES)}), e.g. init.nonlinearity=relu, or linear for gain 1"
        )
    return _gain_arguments(name, getattr(model, "nonlinearity_param", None), f"{type(model).__name__}.nonlinearity")


def _gain_arguments(name: str, param: float | None, where: str) -> tuple[GainNonlinearity, float]:
    nonlinearity = GAIN_STAND_INS.get(name, name)
    if nonlinearity not in GAIN_NONLINEARITIES:
        known = (*GAIN_NONLINEARITIES, *GAIN_STAND_INS)
        raise ValueError(
            f"{where} is '{name}', which has no known gain; set it to one of: "
            f"{', '.join(known)}.{did_you_mean(str(name), known)}"
        )
    nonlinearity = cast(GainNonlinearity, nonlinearity)  # checked just above
    if nonlinearity != "leaky_relu":
        return nonlinearity, 0.0
    slope = DEFAULT_LEAKY_SLOPE if param is None else param
    if not isinstance(slope, int | float) or isinstance(slope, bool) or not math.isfinite(slope):
        raise ValueError(f"{where}_param must be the leaky slope (a number), got {slope!r}")
    return nonlinearity, float(slope)


def _check_spread(key: str, value: float | None, scheme: str, needed_by: str, also: str | None = None) -> None:
    if needed_by not in (scheme, also):
        if value is not None:
            raise ValueError(
                f"init {key} only applies to init={needed_by} (or hidden_scheme={needed_by}); init={scheme} sets its own spread"
            )
        return
    check_number(
        f"init.{key}",
        value,
        above=0,
        meaning=f"init={needed_by} needs it, for scheme or hidden_scheme",
        error=ValueError,
    )
