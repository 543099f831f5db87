"""Activations by name or with parameters, what models record for initializers, and alpha dropout."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import build_from_overrides
from omegaconf import OmegaConf
from torch import nn

from dlrun.errors import ConfigError
from dlrun.models import CNN, MLP
from dlrun.models.layers import ACTIVATIONS, describe_activation, make_activation

NAMES = ("sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "selu", "gelu", "silu")
X = torch.linspace(-3, 3, 25)

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


def _leaky(x, slope):
    return torch.where(x > 0, x, slope * x)


def _elu(x, alpha):
    return torch.where(x > 0, x, alpha * (torch.exp(x) - 1))


def _gelu_exact(x):
    return x * 0.5 * (1 + torch.erf(x / math.sqrt(2)))


def _gelu_tanh(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


# spec -> (module class, the function it must compute, written out from its definition)
CASES = {
    "sigmoid": (nn.Sigmoid, lambda x: 1 / (1 + torch.exp(-x))),
    "tanh": (nn.Tanh, lambda x: (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x))),
    "relu": (nn.ReLU, lambda x: x.clamp(min=0)),
    "leaky_relu": (nn.LeakyReLU, lambda x: _leaky(x, 0.01)),
    "prelu": (nn.PReLU, lambda x: _leaky(x, 0.25)),
    "elu": (nn.ELU, lambda x: _elu(x, 1.0)),
    "selu": (nn.SELU, lambda x: SELU_SCALE * _elu(x, SELU_ALPHA)),
    "gelu": (nn.GELU, _gelu_exact),
    "silu": (nn.SiLU, lambda x: x / (1 + torch.exp(-x))),
}

WITH_PARAMETERS = [
    ({"name": "leaky_relu", "negative_slope": 0.2}, nn.LeakyReLU, lambda x: _leaky(x, 0.2)),
    ({"name": "prelu", "init": 0.1}, nn.PReLU, lambda x: _leaky(x, 0.1)),
    ({"name": "elu", "alpha": 0.5}, nn.ELU, lambda x: _elu(x, 0.5)),
    ({"name": "gelu", "approximate": "tanh"}, nn.GELU, _gelu_tanh),
    ({"name": "gelu", "approximate": "none"}, nn.GELU, _gelu_exact),
    ({"name": "relu"}, nn.ReLU, lambda x: x.clamp(min=0)),
]


def test_the_names_offered_are_the_documented_ones():
    assert tuple(ACTIVATIONS) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_each_name_builds_its_module_with_default_parameters(name):
    module_class, reference = CASES[name]
    module = make_activation(name)
    assert type(module) is module_class
    with torch.no_grad():
        torch.testing.assert_close(module(X), reference(X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "spec, module_class, reference", WITH_PARAMETERS, ids=[str(spec) for spec, _, _ in WITH_PARAMETERS]
)
@pytest.mark.parametrize("as_dictconfig", [False, True], ids=["dict", "DictConfig"])
def test_mapping_sets_the_activations_parameters(spec, module_class, reference, as_dictconfig):
    # Hydra hands the model a DictConfig; Python callers a dict.
    module = make_activation(OmegaConf.create(spec) if as_dictconfig else spec)
    assert type(module) is module_class
    with torch.no_grad():
        torch.testing.assert_close(module(X), reference(X), rtol=1e-5, atol=1e-6)


def test_leaky_slope_value_reaches_negative_inputs():
    module = make_activation({"name": "leaky_relu", "negative_slope": 0.2})
    assert module(torch.tensor([-2.0, 3.0])).tolist() == pytest.approx([-0.4, 3.0])
    assert make_activation("leaky_relu")(torch.tensor([-2.0])).item() == pytest.approx(-0.02)


def test_prelu_num_parameters_gives_one_learned_slope_per_feature():
    module = make_activation({"name": "prelu", "num_parameters": 4, "init": 0.3}, features=4)
    assert module.weight.shape == (4,)
    assert module.weight.tolist() == pytest.approx([0.3] * 4)
    model = MLP((3,), 2, hidden_sizes=(4,), activation={"name": "prelu", "num_parameters": 4})
    prelus = [m for m in model.modules() if isinstance(m, nn.PReLU)]
    assert [p.weight.shape for p in prelus] == [(4,)]


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("relu", ("relu", None)),
        ("tanh", ("tanh", None)),
        ("leaky_relu", ("leaky_relu", 0.01)),
        ({"name": "leaky_relu", "negative_slope": 0.2}, ("leaky_relu", 0.2)),
        ("prelu", ("prelu", 0.25)),
        ({"name": "prelu", "init": 0.1}, ("prelu", 0.1)),
        ({"name": "elu", "alpha": 2.0}, ("elu", None)),
    ],
)
def test_describe_activation_gives_name_and_negative_slope(spec, expected):
    assert describe_activation(spec) == pytest.approx(expected)


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_models_record_their_activation_for_initializers(family):
    spec = {"name": "leaky_relu", "negative_slope": 0.3}
    model = MLP((4,), 3, hidden_sizes=(5,), activation=spec) if family == "mlp" else CNN((1, 8, 8), 3, activation=spec)
    assert (model.nonlinearity, model.nonlinearity_param) == ("leaky_relu", pytest.approx(0.3))
    plain = MLP((4,), 3, activation="selu") if family == "mlp" else CNN((1, 8, 8), 3, activation="selu")
    assert (plain.nonlinearity, plain.nonlinearity_param) == ("selu", None)


def test_cnn_uses_the_chosen_activation_in_conv_blocks_and_head():
    spec = {"name": "leaky_relu", "negative_slope": 0.3}
    model = CNN((1, 8, 8), 3, channels=(4, 6), head_sizes=(8, 8), activation=spec)
    feature_acts = [m for m in model.features if isinstance(m, nn.LeakyReLU)]
    head_acts = [m for m in model.head if isinstance(m, nn.LeakyReLU)]
    assert len(feature_acts) == 2 and len(head_acts) == 2
    assert all(m.negative_slope == pytest.approx(0.3) for m in feature_acts + head_acts)
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())


def test_cnn_prelu_slopes_per_channel_when_widths_match():
    model = CNN((1, 8, 8), 3, channels=(4, 4), head_sizes=(4,), activation={"name": "prelu", "num_parameters": 4})
    prelus = [m for m in model.modules() if isinstance(m, nn.PReLU)]
    assert len(prelus) == 3 and all(p.weight.shape == (4,) for p in prelus)
    assert len({id(p.weight) for p in prelus}) == 3  # each layer learns its own slopes


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["mlp", "cnn"])
@pytest.mark.parametrize("spec", ["relux", {"name": "swish"}, None, ["relu"]])
def test_unknown_activation_lists_the_valid_choices(family, spec):
    with pytest.raises(ValueError) as info:
        MLP((4,), 3, activation=spec) if family == "mlp" else CNN((1, 8, 8), 3, activation=spec)
    for name in NAMES:
        assert name in str(info.value)


def test_unknown_activation_suggests_the_closest_name():
    with pytest.raises(ValueError, match="Did you mean leaky_relu"):
        make_activation("leaky_rlu")


def test_activation_without_layers_is_still_checked():
    with pytest.raises(ValueError, match="unknown activation 'relux'"):
        MLP((4,), 3, hidden_sizes=(), activation="relux")


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"name": "leaky_relu", "negative_slop": 0.2}, "takes negative_slope.*Did you mean negative_slope"),
        ({"name": "relu", "negative_slope": 0.2}, "relu takes no parameters"),
        ({"name": "leaky_relu", "negative_slope": "steep"}, "negative_slope must be a number"),
        ({"name": "elu", "alpha": 0}, "alpha must be a positive number"),
        ({"name": "gelu", "approximate": "exact"}, "approximate must be none or tanh"),
        ({"name": "prelu", "num_parameters": 0}, "num_parameters must be 1"),
        ({"negative_slope": 0.2}, "needs a 'name'"),
    ],
)
def test_bad_activation_parameters_say_what_is_wrong(spec, message):
    with pytest.raises(ValueError, match=message):
        make_activation(spec)


def test_prelu_width_mismatch_is_caught_when_the_model_is_built():
    with pytest.raises(ValueError, match=r"num_parameters must be 1 .* or 4 .*got 8"):
        MLP((4,), 3, hidden_sizes=(8, 4), activation={"name": "prelu", "num_parameters": 8})


# -- alpha dropout --------------------------------------------------------------------------


@pytest.mark.parametrize("kind, expected", [("standard", nn.Dropout), ("alpha", nn.AlphaDropout)])
def test_mlp_dropout_kind_picks_the_dropout_layer(kind, expected):
    model = MLP((4,), 3, hidden_sizes=(16, 8), activation="selu", dropout=0.2, dropout_kind=kind)
    dropouts = [m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
    assert [type(m) for m in dropouts] == [expected, expected]
    assert all(m.p == pytest.approx(0.2) for m in dropouts)


@pytest.mark.parametrize("kind, expected", [("standard", nn.Dropout), ("alpha", nn.AlphaDropout)])
def test_cnn_head_dropout_kind_picks_the_head_dropout_layer(kind, expected):
    model = CNN((1, 8, 8), 3, channels=(4,), head_sizes=(8, 8), head_dropout=0.3, head_dropout_kind=kind)
    dropouts = [m for m in model.head if isinstance(m, nn.modules.dropout._DropoutNd)]
    assert [type(m) for m in dropouts] == [expected, expected]


@pytest.mark.parametrize(
    "build",
    [
        lambda: MLP((4,), 3, dropout_kind="gaussian"),
        lambda: CNN((1, 8, 8), 3, head_dropout_kind="gaussian"),
    ],
)
def test_unknown_dropout_kind_lists_the_choices_even_without_dropout(build):
    with pytest.raises(ValueError, match="unknown dropout kind 'gaussian'; choose one of: standard, alpha"):
        build()


def test_alpha_dropout_keeps_selu_activations_normalized_where_standard_dropout_does_not():
    torch.manual_seed(0)
    # SELU maps N(0, 1) inputs to mean 0, variance 1: the fixed point alpha dropout preserves.
    selu_out = nn.SELU()(torch.randn(1_000_000))
    assert abs(selu_out.mean().item()) < 0.01 and abs(selu_out.std().item() - 1) < 0.01
    alpha = MLP((4,), 1, hidden_sizes=(4,), dropout=0.5, dropout_kind="alpha")[3]
    standard = MLP((4,), 1, hidden_sizes=(4,), dropout=0.5, dropout_kind="standard")[3]
    assert alpha.training
    dropped = alpha(selu_out)
    # Dropped units all take SELU's saturation value (then the same affine correction as the rest).
    assert (dropped == dropped.min()).float().mean().item() == pytest.approx(0.5, abs=0.01)
    assert abs(dropped.mean().item()) < 0.1
    assert abs(dropped.std().item() - 1) < 0.1
    # Standard dropout rescales the kept units by 1/(1-p): variance doubles at p = 0.5.
    assert standard(selu_out).std().item() == pytest.approx(math.sqrt(2), rel=0.02)


# -- through the config ---------------------------------------------------------------------


def test_activation_mapping_trains_end_to_end(tmp_path):
    run = build_from_overrides(
        tmp_path, "model.activation={name:leaky_relu,negative_slope:0.2}", "model.hidden_sizes=[16]"
    )
    model = run.task.model
    leaky = [m for m in model.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(leaky) == 1 and leaky[0].negative_slope == pytest.approx(0.2)
    assert (model.nonlinearity, model.nonlinearity_param) == ("leaky_relu", pytest.approx(0.2))
    run.trainer.fit(run.task, datamodule=run.datamodule)
    assert math.isfinite(float(run.trainer.callback_metrics["val/loss"]))


def test_cnn_activation_and_alpha_head_dropout_train_end_to_end(tmp_path):
    run = build_from_overrides(
        tmp_path,
        "model=cnn",
        "model.channels=[4]",
        "model.head_sizes=[8]",
        "model.activation=selu",
        "model.head_dropout=0.1",
        "model.head_dropout_kind=alpha",
    )
    model = run.task.model
    assert sum(isinstance(m, nn.SELU) for m in model.modules()) == 2
    assert sum(isinstance(m, nn.AlphaDropout) for m in model.head) == 1
    run.trainer.fit(run.task, datamodule=run.datamodule)
    assert math.isfinite(float(run.trainer.callback_metrics["val/loss"]))


def test_unknown_activation_in_the_config_is_a_user_error(tmp_path):
    # A ConfigError is what the run entry prints as one paragraph and exits 2 on.
    with pytest.raises(ConfigError) as info:
        build_from_overrides(tmp_path, "model.activation=relux")
    message = str(info.value)
    assert "unknown activation 'relux'" in message
    assert "leaky_relu" in message and "Did you mean relu?" in message
