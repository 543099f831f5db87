"""The plain torch models: shapes, layer composition, error messages, and import weight."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from dlrun.models import CNN, MLP

ACTIVATION_NAMES = ("relu", "leaky_relu", "elu", "selu", "gelu", "silu", "tanh", "sigmoid")


def count(model: nn.Module, kind: type[nn.Module]) -> int:
    return sum(type(m) is kind for m in model.modules())


# -- MLP ------------------------------------------------------------------------------------


@pytest.mark.parametrize("input_shape", [(64,), (4,), (1, 8, 8), (1, 28, 28)])
@pytest.mark.parametrize("num_outputs", [1, 3, 10])
def test_mlp_output_shape(input_shape, num_outputs):
    torch.manual_seed(0)
    model = MLP(input_shape, num_outputs, hidden_sizes=(16, 8))
    out = model(torch.randn(5, *input_shape))
    assert out.shape == (5, num_outputs)


@pytest.mark.parametrize("input_shape", [(1, 8, 8), (3, 4, 5)])
def test_mlp_flattens_image_input(input_shape):
    torch.manual_seed(0)
    model = MLP(input_shape, 3, hidden_sizes=(7,))
    features = 1
    for size in input_shape:
        features *= size
    first_linear = next(m for m in model.modules() if isinstance(m, nn.Linear))
    assert first_linear.in_features == features
    images = torch.randn(4, *input_shape)
    # The same model applied to the image and to its row-major flattening gives the same output.
    flat_model = nn.Sequential(*list(model.children())[1:])
    torch.testing.assert_close(model(images), flat_model(images.reshape(4, features)))


def test_mlp_without_hidden_layers_is_one_affine_map():
    torch.manual_seed(0)
    model = MLP((2, 3), 4, hidden_sizes=())
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 1
    x = torch.randn(6, 2, 3)
    expected = x.reshape(6, 6) @ linears[0].weight.T + linears[0].bias
    torch.testing.assert_close(model(x), expected)


@pytest.mark.parametrize(
    "norm, expected",
    [("batch", nn.BatchNorm1d), ("layer", nn.LayerNorm), (None, None)],
)
def test_mlp_norm_layers(norm, expected):
    model = MLP((4,), 3, hidden_sizes=(16, 8), norm=norm)
    assert count(model, nn.BatchNorm1d) == (2 if norm == "batch" else 0)
    assert count(model, nn.LayerNorm) == (2 if norm == "layer" else 0)
    if expected is not None:
        widths = [
            m.num_features if isinstance(m, nn.BatchNorm1d) else m.normalized_shape[0]
            for m in model.modules()
            if isinstance(m, expected)
        ]
        assert widths == [16, 8]
    # A hidden block is Linear -> norm -> activation: the norm follows its Linear directly.
    layers = list(model.children())
    for i, layer in enumerate(layers):
        if expected is not None and isinstance(layer, expected):
            assert isinstance(layers[i - 1], nn.Linear)
            assert isinstance(layers[i + 1], nn.ReLU)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_mlp_dropout_layers(dropout):
    model = MLP((4,), 3, hidden_sizes=(16, 8), dropout=dropout)
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert len(dropouts) == (2 if dropout > 0 else 0)
    assert all(d.p == pytest.approx(dropout) for d in dropouts)


def test_mlp_layer_sequence():
    model = MLP((1, 8, 8), 10, hidden_sizes=(32,), norm="batch", dropout=0.5, activation="tanh")
    assert [type(m) for m in model.children()] == [
        nn.Flatten,
        nn.Linear,
        nn.BatchNorm1d,
        nn.Tanh,
        nn.Dropout,
        nn.Linear,
    ]
    assert model[1].in_features == 64 and model[1].out_features == 32
    assert model[-1].in_features == 32 and model[-1].out_features == 10


@pytest.mark.parametrize("dropout", [1.0, -0.1])
def test_mlp_rejects_bad_dropout(dropout):
    with pytest.raises(ValueError, match="dropout"):
        MLP((4,), 3, dropout=dropout)


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_unknown_activation_names_valid_choices(family):
    with pytest.raises(ValueError) as info:
        if family == "mlp":
            MLP((4,), 3, activation="relux")
        else:
            CNN((1, 8, 8), 3, activation="relux")
    message = str(info.value)
    assert "relux" in message
    for name in ACTIVATION_NAMES:
        assert name in message


def test_unknown_norm_names_valid_choices():
    with pytest.raises(ValueError) as info:
        MLP((4,), 3, norm="group")
    assert "batch" in str(info.value) and "layer" in str(info.value)


# -- CNN ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "input_shape, spatial",
    [((1, 8, 8), (2, 2)), ((1, 28, 28), (7, 7)), ((3, 16, 12), (4, 3))],
)
@pytest.mark.parametrize("num_outputs", [1, 3, 10])
def test_cnn_output_shape(input_shape, spatial, num_outputs):
    torch.manual_seed(0)
    model = CNN(input_shape, num_outputs, channels=(4, 6), head_sizes=(8,))
    out = model(torch.randn(3, *input_shape))
    assert out.shape == (3, num_outputs)
    features = model.features(torch.zeros(1, *input_shape))
    assert features.shape == (1, 6, *spatial)


def test_cnn_same_padding_and_max_pool_turn_8x8_into_2x2():
    model = CNN((1, 8, 8), 10, channels=(32, 64), padding="same", pool="max", head_sizes=(128,))
    features = model.features(torch.zeros(2, 1, 8, 8))
    assert features.shape == (2, 64, 2, 2)
    assert features.flatten(1).shape[1] == 64 * 2 * 2
    first_head_linear = next(m for m in model.head if isinstance(m, nn.Linear))
    assert first_head_linear.in_features == 256
    assert count(model.features, nn.MaxPool2d) == 2


def test_cnn_without_pooling_keeps_spatial_size():
    model = CNN((1, 8, 8), 10, channels=(4, 4, 4, 4, 4), padding="same", pool=None)
    assert model.features(torch.zeros(1, 1, 8, 8)).shape == (1, 4, 8, 8)
    assert next(m for m in model.head if isinstance(m, nn.Linear)).in_features == 4 * 8 * 8


def test_cnn_integer_padding_shrinks():
    # kernel 3, no padding: 8 -> 6 (conv) -> 3 (pool)
    model = CNN((1, 8, 8), 2, channels=(5,), padding=0, pool="avg")
    assert model.features(torch.zeros(1, 1, 8, 8)).shape == (1, 5, 3, 3)
    assert count(model.features, nn.AvgPool2d) == 1


@pytest.mark.parametrize(
    "norm, expected",
    [("batch", nn.BatchNorm2d), ("layer", nn.GroupNorm), (None, None)],
)
def test_cnn_norm_layers(norm, expected):
    model = CNN((1, 8, 8), 3, channels=(4, 6), norm=norm)
    assert count(model, nn.BatchNorm2d) == (2 if norm == "batch" else 0)
    assert count(model, nn.GroupNorm) == (2 if norm == "layer" else 0)
    assert count(model, nn.BatchNorm1d) == 0
    if norm == "layer":
        assert [m.num_groups for m in model.modules() if isinstance(m, nn.GroupNorm)] == [1, 1]


@pytest.mark.parametrize("dropout, head_dropout", [(0.0, 0.0), (0.2, 0.0), (0.0, 0.4), (0.2, 0.4)])
def test_cnn_dropout_layers(dropout, head_dropout):
    model = CNN((1, 8, 8), 3, channels=(4, 6), head_sizes=(8, 8), dropout=dropout, head_dropout=head_dropout)
    assert count(model.features, nn.Dropout2d) == (2 if dropout > 0 else 0)
    assert count(model.head, nn.Dropout) == (2 if head_dropout > 0 else 0)


@pytest.mark.parametrize("input_shape", [(64,), (4,), (8, 8)])
def test_cnn_rejects_non_image_input(input_shape):
    with pytest.raises(ValueError, match="image"):
        CNN(input_shape, 3)


def test_cnn_rejects_too_many_pooling_blocks():
    # 8 -> 4 -> 2 -> 1 is fine; a fourth 2x2 pool has nothing left to pool.
    ok = CNN((1, 8, 8), 3, channels=(4, 4, 4), padding="same", pool="max")
    assert ok.features(torch.zeros(1, 1, 8, 8)).shape == (1, 4, 1, 1)
    with pytest.raises(ValueError, match="fewer"):
        CNN((1, 8, 8), 3, channels=(4, 4, 4, 4), padding="same", pool="max")


def test_cnn_rejects_unknown_pool():
    with pytest.raises(ValueError, match="max"):
        CNN((1, 8, 8), 3, pool="median")


def test_models_import_without_lightning_or_hydra():
    code = (
        "import dlrun.models, sys; "
        "assert 'pytorch_lightning' not in sys.modules, 'pytorch_lightning imported'; "
        "assert 'hydra' not in sys.modules, 'hydra imported'; "
        "dlrun.models.MLP((4,), 3); dlrun.models.CNN((1, 8, 8), 3)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
