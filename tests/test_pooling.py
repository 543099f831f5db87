"""Pooling by name: min pooling against hand computations, and `pool=min` reaching every CNN family."""

from __future__ import annotations

import pytest
import torch
from conftest import build_from_overrides
from torch import nn

from dlrun.models import CNN, VGG, AlexNet, LeNet5, MinPool2d, ResNet
from dlrun.models.pooling import make_pool

# One 4x4 map whose 2x2 windows have distinct minima, maxima and means.
X = torch.tensor(
    [
        [1.0, 5.0, -2.0, 0.0],
        [3.0, 4.0, 7.0, 8.0],
        [-1.0, 6.0, 2.0, 2.0],
        [0.0, -3.0, 9.0, 1.0],
    ]
).reshape(1, 1, 4, 4)


def test_min_pool_is_the_minimum_of_each_window():
    # Windows (top-left, top-right, bottom-left, bottom-right): {1,5,3,4} {-2,0,7,8} {-1,6,0,-3} {2,2,9,1}
    out = MinPool2d(2)(X)
    torch.testing.assert_close(out, torch.tensor([[1.0, -2.0], [-3.0, 1.0]]).reshape(1, 1, 2, 2))
    # ... which is neither what max nor avg pooling give on the same windows.
    torch.testing.assert_close(make_pool("max", 2)(X), torch.tensor([[5.0, 8.0], [6.0, 9.0]]).reshape(1, 1, 2, 2))
    torch.testing.assert_close(make_pool("avg", 2)(X), torch.tensor([[3.25, 3.25], [0.5, 3.5]]).reshape(1, 1, 2, 2))


def test_min_pool_with_stride_and_padding_ignores_the_padded_border():
    # 3x3 windows, stride 2, padding 1 over the 4x4 map: the windows cover rows/cols {0,1}, {1,2,3}.
    out = MinPool2d(3, stride=2, padding=1)(X)
    rows = cols = [(0, 2), (1, 4)]
    expected = torch.tensor([[X[0, 0, r0:r1, c0:c1].min().item() for c0, c1 in cols] for r0, r1 in rows])
    torch.testing.assert_close(out[0, 0], expected)
    torch.testing.assert_close(expected, torch.tensor([[1.0, -2.0], [-3.0, -3.0]]))
    # Were the border padded with zeros, every window of an all-positive map would have minimum 0.
    positive = X.abs() + 1
    padded = MinPool2d(3, stride=2, padding=1)(positive)
    torch.testing.assert_close(padded[0, 0, 0, 0], positive[0, 0, :2, :2].min())


def test_min_pool_gradient_reaches_the_minimum_of_each_window_only():
    x = X.clone().requires_grad_(True)
    MinPool2d(2)(x).sum().backward()
    expected = torch.zeros(4, 4)
    for row, col in [(0, 0), (0, 2), (3, 1), (3, 3)]:  # where 1, -2, -3 and 1 sit
        expected[row, col] = 1.0
    torch.testing.assert_close(x.grad[0, 0], expected)


def test_min_pool_keeps_batch_and_channels_apart():
    torch.manual_seed(0)
    x = torch.randn(3, 5, 6, 6)
    out = MinPool2d(2)(x)
    assert out.shape == (3, 5, 3, 3)
    torch.testing.assert_close(out, x.reshape(3, 5, 3, 2, 3, 2).amin(dim=(3, 5)))


def test_avg_pool_averages_only_real_pixels_at_a_padded_border():
    out = make_pool("avg", 3, stride=2, padding=1)(X)
    # Top-left window: rows 0-1, cols 0-1 -> (1 + 5 + 3 + 4) / 4, not / 9.
    assert out[0, 0, 0, 0].item() == pytest.approx(13 / 4)


@pytest.mark.parametrize("name, kind", [("max", nn.MaxPool2d), ("avg", nn.AvgPool2d), ("min", MinPool2d)])
def test_make_pool_builds_the_named_pool(name, kind):
    assert type(make_pool(name, 2)) is kind


@pytest.mark.parametrize("name", ["mni", "median", None, ["max"]])
def test_make_pool_rejects_unknown_names(name):
    with pytest.raises(ValueError, match="unknown pool .*choose one of: max, avg, min") as error:
        make_pool(name, 2)
    if name == "mni":
        assert "Did you mean min?" in str(error.value)


def pool_types(model: nn.Module) -> list[type]:
    return [type(m) for m in model.modules() if type(m) in (nn.MaxPool2d, nn.AvgPool2d, MinPool2d)]


@pytest.mark.parametrize(
    "family, pools",
    # How many pool layers each family has on 28x28 with its defaults (ResNet: the global head pool).
    [(CNN, 2), (LeNet5, 2), (AlexNet, 3), (VGG, 3), (ResNet, 1)],
)
@pytest.mark.parametrize("name, kind", [("min", MinPool2d), ("max", nn.MaxPool2d), ("avg", nn.AvgPool2d)])
def test_every_family_uses_the_pool_it_is_given(family, pools, name, kind):
    model = family((1, 28, 28), 10, pool=name)
    assert pool_types(model) == [kind] * pools


def test_pool_min_changes_what_the_cnn_computes():
    torch.manual_seed(0)
    by_pool = {name: CNN((1, 8, 8), 4, channels=(3,), head_sizes=(), norm=None, pool=name) for name in ("max", "min")}
    by_pool["min"].load_state_dict(by_pool["max"].state_dict())  # same weights, only the pool differs
    x = torch.randn(2, 1, 8, 8)
    conv_then_act = by_pool["min"].features[:2]
    # With min pooling, the features are the minimum over each 2x2 window of ReLU(conv(x)).
    expected = conv_then_act(x).reshape(2, 3, 4, 2, 4, 2).amin(dim=(3, 5))
    torch.testing.assert_close(by_pool["min"].features(x), expected)
    assert not torch.allclose(by_pool["min"](x), by_pool["max"](x))


def test_pool_min_from_the_config_reaches_the_model(tmp_path):
    run = build_from_overrides(tmp_path, "model=cnn", "model.pool=min")
    assert pool_types(run.task.model) == [MinPool2d, MinPool2d]
