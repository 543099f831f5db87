"""Initializers: weight statistics against their formulas, gains that follow the activation, configs."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import build_from_overrides
from hydra.utils import instantiate
from torch import nn

from dlrun.config.compose import ConfigSource
from dlrun.models import CNN, MLP
from dlrun.training.initializers import SCHEMES, Initializer

FAN_IN, FAN_OUT = 1000, 400  # not square, so fan_in and fan_out formulas give different numbers

# The gain each activation should get, written out rather than asked of torch.
GAINS = {
    ("relu", None): math.sqrt(2),
    ("tanh", None): 5 / 3,
    ("sigmoid", None): 1.0,
    ("selu", None): 3 / 4,
    ("leaky_relu", 0.5): math.sqrt(2 / (1 + 0.5**2)),
    ("prelu", 0.25): math.sqrt(2 / (1 + 0.25**2)),
    ("gelu", None): math.sqrt(2),  # ReLU's stand-in: torch has no gain for GELU
    ("elu", None): math.sqrt(2),
    ("silu", None): math.sqrt(2),
}


def expected_std(scheme: str, gain: float, fan_in: int, fan_out: int) -> float:
    return {
        "xavier_uniform": gain * math.sqrt(2 / (fan_in + fan_out)),  # bound sqrt(6/(in+out)) / sqrt(3)
        "xavier_normal": gain * math.sqrt(2 / (fan_in + fan_out)),
        "he_uniform": gain / math.sqrt(fan_in),  # bound gain*sqrt(3/fan_in) / sqrt(3)
        "he_normal": gain / math.sqrt(fan_in),
        "lecun_uniform": 1 / math.sqrt(fan_in),
        "lecun_normal": 1 / math.sqrt(fan_in),
        "orthogonal": gain / math.sqrt(max(fan_in, fan_out)),  # unit rows (or columns), times gain
    }[scheme]


UNIFORM_SCHEMES = {"xavier_uniform", "he_uniform", "lecun_uniform"}
FORMULA_SCHEMES = (
    "xavier_uniform",
    "xavier_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "orthogonal",
)


class Probe(nn.Module):
    """A model that is one big layer and says which activation it uses, as dlrun's models do."""

    def __init__(self, layer: nn.Module | None = None, nonlinearity: str | None = None, param: float | None = None):
        super().__init__()
        self.layer = layer if layer is not None else nn.Linear(FAN_IN, FAN_OUT)
        if nonlinearity is not None:
            self.nonlinearity = nonlinearity
            self.nonlinearity_param = param


def initialized(scheme: str, **probe) -> Probe:
    torch.manual_seed(0)
    model = Probe(**probe)
    Initializer(scheme)(model)
    return model


def check_shape_of_distribution(weight: torch.Tensor, scheme: str, std: float) -> None:
    """Uniform weights never pass their bound sqrt(3)*std; normal ones, this many, always do."""
    largest = weight.abs().max().item()
    if scheme in UNIFORM_SCHEMES:
        assert largest <= math.sqrt(3) * std * 1.001
    else:
        assert largest > 1.2 * math.sqrt(3) * std


# Orthogonal (a QR of the whole matrix) is the slow one: three gains are enough to pin it down.
SCHEME_ACTIVATION_GRID = [
    (scheme, nonlinearity, param)
    for scheme in FORMULA_SCHEMES
    for nonlinearity, param in GAINS
    if scheme != "orthogonal" or nonlinearity in ("relu", "tanh", "leaky_relu")
]


@pytest.mark.parametrize("scheme, nonlinearity, param", SCHEME_ACTIVATION_GRID)
def test_linear_weight_std_follows_the_formula_for_each_activation(scheme, nonlinearity, param):
    weight = initialized(scheme, nonlinearity=nonlinearity, param=param).layer.weight.detach()
    std = expected_std(scheme, GAINS[(nonlinearity, param)], FAN_IN, FAN_OUT)
    assert weight.std().item() == pytest.approx(std, rel=0.02)
    assert abs(weight.mean().item()) < 0.02 * std
    check_shape_of_distribution(weight, scheme, std)


@pytest.mark.parametrize("scheme", FORMULA_SCHEMES)
def test_conv_weight_std_uses_channels_times_kernel_as_fans(scheme):
    conv = nn.Conv2d(64, 32, kernel_size=3)
    weight = initialized(scheme, layer=conv, nonlinearity="relu").layer.weight.detach()
    std = expected_std(scheme, math.sqrt(2), fan_in=64 * 9, fan_out=32 * 9)
    assert weight.std().item() == pytest.approx(std, rel=0.03)
    assert abs(weight.mean().item()) < 0.05 * std


def test_model_without_a_declared_activation_needs_init_nonlinearity():
    with pytest.raises(ValueError, match="declares no activation.*init.nonlinearity"):
        initialized("he_normal")
    for name, gain in (("relu", math.sqrt(2)), ("linear", 1.0), ("tanh", 5 / 3)):
        torch.manual_seed(0)
        model = Probe()
        Initializer("he_normal", nonlinearity=name)(model)
        assert model.layer.weight.std().item() == pytest.approx(gain / math.sqrt(FAN_IN), rel=0.02)
    initialized("lecun_normal")  # schemes that ignore the activation need none


def test_he_gain_changes_with_the_activation():
    relu = initialized("he_normal", nonlinearity="relu").layer.weight.std().item()
    tanh = initialized("he_normal", nonlinearity="tanh").layer.weight.std().item()
    assert tanh / relu == pytest.approx((5 / 3) / math.sqrt(2), rel=0.02)
    leaky = initialized("he_normal", nonlinearity="leaky_relu", param=0.5).layer.weight.std().item()
    assert leaky / relu == pytest.approx(math.sqrt(1 / 1.25), rel=0.02)


def test_orthogonal_weight_rows_are_orthonormal_times_gain():
    weight = initialized("orthogonal", nonlinearity="tanh").layer.weight.detach()
    gram = weight @ weight.T  # 400 x 400: rows of a wide matrix are orthogonal
    torch.testing.assert_close(gram, (5 / 3) ** 2 * torch.eye(FAN_OUT), atol=1e-4, rtol=0)


@pytest.mark.parametrize("std", [0.01, 0.3])
def test_normal_takes_its_std_from_the_config(std):
    torch.manual_seed(0)
    model = Probe(nonlinearity="tanh")  # a fixed std ignores the activation and the fans
    Initializer("normal", std=std)(model)
    weight = model.layer.weight
    assert weight.std().item() == pytest.approx(std, rel=0.02)
    assert abs(weight.mean().item()) < 0.02 * std
    check_shape_of_distribution(weight, "normal", std)


@pytest.mark.parametrize("bound", [0.01, 0.3])
def test_uniform_takes_its_bound_from_the_config(bound):
    torch.manual_seed(0)
    model = Probe(nonlinearity="tanh")
    Initializer("uniform", bound=bound)(model)
    weight = model.layer.weight
    assert weight.abs().max().item() <= bound
    assert weight.abs().max().item() > 0.999 * bound
    assert weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)


def test_zeros_makes_every_weight_zero():
    model = initialized("zeros")
    assert torch.count_nonzero(model.layer.weight) == 0


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_linear_and_conv_is_initialized_biases_zero_norms_untouched(scheme):
    torch.manual_seed(0)
    model = CNN((1, 8, 8), 3, channels=(4, 6), norm="batch", head_sizes=(8,))
    mlp = MLP((4,), 3, hidden_sizes=(8, 8), norm="layer")
    before = {name: p.detach().clone() for name, p in [*model.named_parameters(), *mlp.named_parameters()]}
    settings = {"normal": {"std": 0.02}, "uniform": {"bound": 0.02}}.get(scheme, {})
    for m in (model, mlp):
        Initializer(scheme, **settings)(m)
    layers = [m for net in (model, mlp) for m in net.modules() if isinstance(m, nn.Linear | nn.Conv2d)]
    norms = [m for net in (model, mlp) for m in net.modules() if isinstance(m, nn.BatchNorm2d | nn.LayerNorm)]
    assert len(layers) == 4 + 3 and len(norms) == 2 + 2
    for layer in layers:
        assert torch.count_nonzero(layer.bias) == 0
    for norm in norms:
        assert torch.equal(norm.weight, torch.ones_like(norm.weight))
        assert torch.equal(norm.bias, torch.zeros_like(norm.bias))
    changed = [
        not torch.equal(p, before[n])
        for n, p in [*model.named_parameters(), *mlp.named_parameters()]
        if n.endswith("weight") and p.dim() > 1
    ]
    assert len(changed) == 7 and all(changed)


# -- errors ---------------------------------------------------------------------------------


def test_unknown_scheme_lists_the_choices():
    with pytest.raises(ValueError) as info:
        Initializer("he_norml")
    assert all(name in str(info.value) for name in SCHEMES)
    assert "Did you mean he_normal?" in str(info.value)


@pytest.mark.parametrize(
    "scheme, settings, message",
    [
        ("normal", {}, r"init.std must be a positive number \(init=normal needs it"),
        ("normal", {"std": -0.1}, r"init.std must be a positive number \(init=normal needs it"),
        ("uniform", {"bound": 0}, r"init.bound must be a positive number \(init=uniform needs it"),
        ("he_normal", {"std": 0.1}, "std only applies to init=normal"),
        ("normal", {"std": 0.1, "bound": 0.1}, "bound only applies to init=uniform"),
    ],
)
def test_bad_spread_settings_say_what_is_wrong(scheme, settings, message):
    with pytest.raises(ValueError, match=message):
        Initializer(scheme, **settings)


def test_unknown_model_nonlinearity_lists_the_known_ones():
    with pytest.raises(ValueError, match="nonlinearity is 'swish'.*tanh.*relu.*gelu"):
        Initializer("he_normal")(Probe(nonlinearity="swish"))


def test_model_without_layers_to_initialize_is_an_error_not_a_silent_no_op():
    with pytest.raises(ValueError, match="no Linear, Conv, recurrent or Embedding layer"):
        Initializer("he_normal")(Probe(layer=nn.LayerNorm(4)))


# -- through the config ---------------------------------------------------------------------


def test_every_scheme_has_a_described_config_option_that_builds_it():
    source = ConfigSource()
    assert {o for o in source.options("init") if not o.startswith("_")} == {"default", *SCHEMES}
    for scheme in SCHEMES:
        assert source.description("init", scheme), f"conf/init/{scheme}.yaml has no description"
        initializer = instantiate(source.compose([f"init={scheme}"]).init)
        assert isinstance(initializer, Initializer) and initializer.scheme == scheme
    assert source.compose(["init=default"]).init._target_ is None
    assert source.description("init", "he_normal").startswith("He (Kaiming) normal: std = gain/sqrt(fan_in)")


def test_he_normal_from_the_config_uses_the_models_activation(tmp_path):
    run = build_from_overrides(tmp_path, "init=he_normal", "model.activation=tanh", "model.hidden_sizes=[512]")
    first = run.task.model[1]  # digits: 64 features in
    assert first.weight.std().item() == pytest.approx((5 / 3) / math.sqrt(64), rel=0.03)
    assert torch.count_nonzero(first.bias) == 0


def _first_layer_after_training(tmp_path, init: str) -> torch.Tensor:
    run = build_from_overrides(
        tmp_path / init,
        "data=iris",
        f"init={init}",
        "model.hidden_sizes=[8]",
        "model.activation=sigmoid",
        "trainer.max_epochs=3",
    )
    run.trainer.fit(run.task, datamodule=run.datamodule)
    return run.task.model[1].weight.detach()


def test_zeros_leaves_hidden_units_identical_after_training_unlike_he_normal(tmp_path):
    """The symmetry problem: equal units get equal gradients, so they stay equal forever."""
    zeros = _first_layer_after_training(tmp_path, "zeros")
    assert zeros.abs().max() > 0  # it trained (with sigmoid the zero start still gets gradients)...
    torch.testing.assert_close(zeros, zeros[:1].expand_as(zeros), rtol=1e-5, atol=1e-7)  # ...as one unit
    he = _first_layer_after_training(tmp_path, "he_normal")
    assert (he - he[:1]).abs().amax(dim=1)[1:].min() > 1e-2  # every unit differs from the first


# -- recurrent layers and embeddings ------------------------------------------------------------

HIDDEN, INPUTS = 256, 200


def recurrent(cell: type[nn.RNNBase], scheme: str = "xavier_uniform", **settings) -> nn.RNNBase:
    torch.manual_seed(0)
    layer = cell(INPUTS, HIDDEN, num_layers=2, bidirectional=True)
    Initializer(scheme, **settings)(layer)
    return layer


@pytest.mark.parametrize("cell, gates", [(nn.LSTM, 4), (nn.GRU, 3), (nn.RNN, 1)])
def test_recurrent_weights_are_set_gate_by_gate(cell, gates):
    layer = recurrent(cell, "xavier_normal", hidden_scheme="orthogonal", nonlinearity="linear")
    gain = 5 / 3 if cell is nn.RNN else 1.0  # an Elman RNN's tanh; gates use gain 1
    for name, parameter in layer.named_parameters():
        blocks = parameter.detach().chunk(gates)
        if name.startswith("weight_ih"):
            fan_in = parameter.shape[1]  # the second layer reads both directions: 2 * HIDDEN
            for block in blocks:
                assert block.std().item() == pytest.approx(gain * math.sqrt(2 / (fan_in + HIDDEN)), rel=0.03)
        elif name.startswith("weight_hh"):
            for block in blocks:  # each gate's square block is gain times an orthogonal matrix
                assert torch.allclose(block @ block.T, gain**2 * torch.eye(HIDDEN), atol=1e-4)
        else:
            assert torch.count_nonzero(parameter) == 0 or (cell is nn.LSTM and name.startswith("bias_ih"))


def test_the_lstm_forget_gate_bias_is_set_and_the_rest_are_zero():
    layer = recurrent(nn.LSTM, forget_bias=1.0)
    for name, parameter in layer.named_parameters():
        if name.startswith("bias_ih"):
            i, f, g, o = parameter.detach().chunk(4)
            assert torch.equal(f, torch.ones(HIDDEN)) and not (i.any() or g.any() or o.any())
        elif name.startswith("bias_hh"):
            assert not parameter.any()  # the two biases add up: the forget gate's sum is exactly 1
    assert not recurrent(nn.LSTM, forget_bias=None).bias_ih_l0.any()


def test_hidden_scheme_null_follows_the_scheme_and_zeros_zero_everything():
    layer = recurrent(nn.GRU, "normal", std=0.01, hidden_scheme=None)
    assert layer.weight_hh_l0.std().item() == pytest.approx(0.01, rel=0.03)
    zeros = recurrent(nn.LSTM, "zeros", hidden_scheme="zeros")
    assert all(not p.any() for p in zeros.parameters())


def test_embeddings_keep_their_padding_row_at_zero():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(5000, 64, padding_idx=0), nn.Linear(64, 2))
    Initializer("lecun_normal", embedding_std=0.1)(model)
    weight = model[0].weight.detach()
    assert not weight[0].any() and weight[1:].std().item() == pytest.approx(0.1, rel=0.03)
    torch.manual_seed(0)
    kept = nn.Sequential(nn.Embedding(5000, 64, padding_idx=0), nn.Linear(64, 2))
    before = kept[0].weight.detach().clone()
    Initializer("lecun_normal")(kept)  # embedding_std null: PyTorch's own N(0, 1) stays
    assert torch.equal(kept[0].weight, before)


def test_recurrent_settings_are_checked():
    with pytest.raises(ValueError, match="hidden_scheme 'orthogonl'.*Did you mean orthogonal"):
        Initializer("he_normal", hidden_scheme="orthogonl")
    with pytest.raises(ValueError, match="embedding_std must be a positive number"):
        Initializer("he_normal", embedding_std=-1.0)
    with pytest.raises(
        ValueError, match="init.std must be a positive number .init=normal needs it, for scheme or hidden"
    ):
        Initializer("he_normal", hidden_scheme="normal")  # no std for it


def test_init_configs_reach_a_recurrent_model(tmp_path):
    run = build_from_overrides(tmp_path, "model=lstm", "init=xavier_uniform", "init.forget_bias=2.0")
    lstm = run.task.model.rnn
    assert torch.all(lstm.bias_ih_l0.detach().chunk(4)[1] == 2.0)
    block = lstm.weight_hh_l0.detach().chunk(4)[0]
    assert torch.allclose(block @ block.T, torch.eye(block.shape[0]), atol=1e-4)
