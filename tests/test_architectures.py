"""LeNet-5, AlexNet, VGG and ResNet on small images: shapes, knobs, limits, and short real fits."""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import pytest
import torch
from conftest import build_from_overrides
from omegaconf import OmegaConf
from torch import nn

from dlrun.errors import ConfigError
from dlrun.models import VGG, AlexNet, LeNet5, ResNet
from dlrun.models.resnet import BasicBlock

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore:.*treespec.*")

CONF = Path(__file__).resolve().parents[1] / "conf" / "model"
PRESETS = {"lenet5": LeNet5, "alexnet": AlexNet, "vgg": VGG, "resnet": ResNet}
FAMILIES = list(PRESETS.values())


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tensors are tiny: on 2 busy cores, OpenMP's thread hand-offs cost up to 100x the math."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def modules(model: nn.Module, kind: type[nn.Module]) -> list[nn.Module]:
    return [m for m in model.modules() if type(m) is kind]


def shapes_through(sequential: nn.Sequential, x: torch.Tensor, kind: type[nn.Module]) -> list[tuple[int, ...]]:
    """The shape of one example after each layer of type `kind`."""
    shapes = []
    for layer in sequential:
        x = layer(x)
        if isinstance(layer, kind):
            shapes.append(tuple(x.shape[1:]))
    return shapes


# -- every family -----------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    "input_shape, num_outputs", [((1, 28, 28), 10), ((1, 28, 28), 1), ((1, 8, 8), 10), ((1, 8, 8), 3)]
)
def test_output_shape(family, input_shape, num_outputs):
    torch.manual_seed(0)
    model = family(input_shape, num_outputs)
    out = model(torch.randn(3, *input_shape))
    assert out.shape == (3, num_outputs)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("family", FAMILIES)
def test_non_image_input_is_refused(family):
    with pytest.raises(ValueError, match=r"image data of shape \(channels, height, width\).*model=mlp"):
        family((64,), 10)


@pytest.mark.parametrize("family", FAMILIES)
def test_nonlinearity_is_recorded_and_used(family):
    model = family((1, 8, 8), 3, activation={"name": "leaky_relu", "negative_slope": 0.2})
    assert (model.nonlinearity, model.nonlinearity_param) == ("leaky_relu", 0.2)
    leaky = modules(model, nn.LeakyReLU)
    assert leaky and all(m.negative_slope == 0.2 for m in leaky)
    assert not modules(model, nn.ReLU) and not modules(model, nn.Tanh)
    default = family((1, 8, 8), 3)
    expected = "tanh" if family is LeNet5 else "relu"
    assert (default.nonlinearity, default.nonlinearity_param) == (expected, None)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_options_are_the_class_defaults(name):
    """The YAML is what users read: it must say what the class does when a knob is left out."""
    lines = (CONF / f"{name}.yaml").read_text().splitlines()
    assert lines[0].startswith("# ") and len(lines[0]) > 20  # the description `dlrun ls` shows
    options = OmegaConf.to_container(OmegaConf.load(CONF / f"{name}.yaml"))
    assert options.pop("_target_") == f"{PRESETS[name].__module__}.{PRESETS[name].__name__}"
    assert "defaults" not in options
    signature = inspect.signature(PRESETS[name])
    assert set(options) == set(signature.parameters) - {"input_shape", "num_outputs"}
    for key, value in options.items():
        default = signature.parameters[key].default
        assert (list(default) if isinstance(default, tuple) else default) == value, key


# -- LeNet-5 ----------------------------------------------------------------------------------


def test_lenet5_parameter_count_on_28x28_with_10_classes():
    conv1 = 6 * (1 * 5 * 5) + 6  # 156
    conv2 = 16 * (6 * 5 * 5) + 16  # 2,416
    dense1 = (16 * 5 * 5) * 120 + 120  # 48,120: the classic 16x5x5 maps
    dense2 = 120 * 84 + 84  # 10,164
    output = 84 * 10 + 10  # 850
    assert conv1 + conv2 + dense1 + dense2 + output == 61_706
    model = LeNet5((1, 28, 28), 10)
    assert sum(p.numel() for p in model.parameters()) == 61_706


@pytest.mark.parametrize(
    "size, after_convs_and_pools",
    [
        # 28x28 takes the classic 32x32 path: conv 28, pool 14, unpadded conv 10, pool 5.
        (28, [(6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5)]),
        # 8x8: an unpadded second conv would leave nothing to pool, so it keeps the 4x4 size.
        (8, [(6, 8, 8), (6, 4, 4), (16, 4, 4), (16, 2, 2)]),
    ],
)
def test_lenet5_feature_sizes(size, after_convs_and_pools):
    model = LeNet5((1, size, size), 10)
    x = torch.randn(2, 1, size, size)
    convs = shapes_through(model.features, x, nn.Conv2d)
    pools = shapes_through(model.features, x, nn.AvgPool2d)
    assert [convs[0], pools[0], convs[1], pools[1]] == after_convs_and_pools
    assert modules(model, nn.Linear)[0].in_features == math.prod(after_convs_and_pools[-1])


def test_lenet5_knobs():
    model = LeNet5((1, 28, 28), 5, channels=(4, 8), head_sizes=(50,), pool="max", norm="batch")
    assert [c.out_channels for c in modules(model, nn.Conv2d)] == [4, 8]
    assert [(m.in_features, m.out_features) for m in modules(model, nn.Linear)] == [(8 * 5 * 5, 50), (50, 5)]
    assert len(modules(model, nn.MaxPool2d)) == 2 and not modules(model, nn.AvgPool2d)
    assert [n.num_features for n in modules(model, nn.BatchNorm2d)] == [4, 8]


@pytest.mark.parametrize(
    "kwargs, input_shape, message",
    [
        ({}, (1, 3, 3), "at least 4x4; this data's images are 3x3"),
        ({"kernel_size": 4}, (1, 28, 28), "odd kernel_size"),
        ({"channels": (6, 16, 32)}, (1, 28, 28), "two numbers"),
    ],
)
def test_lenet5_bad_settings(kwargs, input_shape, message):
    with pytest.raises(ValueError, match=message):
        LeNet5(input_shape, 10, **kwargs)
    LeNet5((1, 4, 4), 10)  # the smallest image it takes


# -- AlexNet ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "width, convs, dense",
    [(0.25, [24, 64, 96, 96, 64], [1024, 1024, 10]), (0.5, [48, 128, 192, 192, 128], [2048, 2048, 10])],
)
def test_alexnet_width_scales_the_papers_layers(width, convs, dense):
    model = AlexNet((1, 8, 8), 10, width=width)
    assert [c.out_channels for c in modules(model, nn.Conv2d)] == convs
    assert [c.kernel_size for c in modules(model, nn.Conv2d)] == [(5, 5)] * 2 + [(3, 3)] * 3
    assert [m.out_features for m in modules(model, nn.Linear)] == dense


@pytest.mark.parametrize("size, final", [(28, 4), (8, 1)])
def test_alexnet_three_pools_halve_rounding_up(size, final):
    model = AlexNet((1, size, size), 10)
    x = torch.randn(2, 1, size, size)
    sides = [s[1] for s in shapes_through(model.features, x, nn.MaxPool2d)]
    assert sides == {28: [14, 7, 4], 8: [4, 2, 1]}[size]
    assert modules(model, nn.Linear)[0].in_features == 64 * final * final


def test_alexnet_dropout_knob():
    assert [d.p for d in modules(AlexNet((1, 8, 8), 10), nn.Dropout)] == [0.5, 0.5]
    assert not modules(AlexNet((1, 8, 8), 10, dropout=0.0), nn.Dropout)
    with pytest.raises(ValueError, match="width .* must be > 0"):
        AlexNet((1, 8, 8), 10, width=0)


# -- VGG --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "blocks, channels, convs",
    [
        ([1, 1, 2, 2], [8, 16, 32, 32], [8, 16, 32, 32, 32, 32]),
        ([2, 1], [4, 8], [4, 4, 8]),
        ([3], [5], [5, 5, 5]),
    ],
)
def test_vgg_blocks_and_channels_set_the_convs(blocks, channels, convs):
    model = VGG((1, 28, 28), 10, blocks=blocks, channels=channels)
    assert [c.out_channels for c in modules(model, nn.Conv2d)] == convs
    assert len(modules(model, nn.MaxPool2d)) == len(blocks)
    assert len(modules(model, nn.BatchNorm2d)) == len(convs)
    side = 28 // 2 ** len(blocks)
    out = model.features(torch.randn(2, 1, 28, 28))
    assert out.shape == (2, channels[-1], side, side)
    assert modules(model, nn.Linear)[0].in_features == channels[-1] * side * side


def test_vgg_norm_null_has_no_batch_norm():
    assert not modules(VGG((1, 8, 8), 10, norm=None), nn.BatchNorm2d)


@pytest.mark.parametrize("size, deepest", [(8, 3), (28, 4)])
def test_vgg_refuses_more_pools_than_the_image_survives(size, deepest):
    VGG((1, size, size), 10, blocks=[1] * deepest, channels=[4] * deepest)
    too_deep = deepest + 1
    with pytest.raises(ValueError, match=f"at least {2**too_deep}x{2**too_deep}.*use at most {deepest} blocks"):
        VGG((1, size, size), 10, blocks=[1] * too_deep, channels=[4] * too_deep)


def test_vgg_needs_one_channel_count_per_block():
    with pytest.raises(ValueError, match="one channel count per block"):
        VGG((1, 28, 28), 10, blocks=[1, 1], channels=[8])


# -- ResNet -----------------------------------------------------------------------------------


def projections(model: ResNet) -> list[bool]:
    return [block.shortcut is not None for block in modules(model, BasicBlock)]


@pytest.mark.parametrize(
    "blocks_per_stage, channels, projected",
    [
        ([2, 2, 2], [16, 32, 64], [False, False, True, False, True, False]),
        ([1, 3], [8, 16], [False, True, False, False]),
        # Same channels everywhere: the stride-2 first block of a later stage still needs a projection.
        ([1, 1, 1], [8, 8, 8], [False, True, True]),
    ],
)
def test_resnet_stages_and_where_projections_appear(blocks_per_stage, channels, projected):
    model = ResNet((1, 8, 8), 10, blocks_per_stage=blocks_per_stage, channels=channels)
    assert len(modules(model, BasicBlock)) == sum(blocks_per_stage)
    assert projections(model) == projected
    # Two 3x3 convs per block, plus the stem and each projection's 1x1 conv.
    convs = modules(model, nn.Conv2d)
    assert len(convs) == 1 + 2 * sum(blocks_per_stage) + sum(projected)
    assert sorted({c.out_channels for c in convs}) == sorted(set(channels))


@pytest.mark.parametrize(
    "in_channels, out_channels, stride, projected",
    [(8, 8, 1, False), (8, 16, 1, True), (8, 8, 2, True), (8, 16, 2, True)],
)
def test_basic_block_shortcut(in_channels, out_channels, stride, projected):
    torch.manual_seed(0)
    block = BasicBlock(in_channels, out_channels, stride, "relu", "batch").eval()
    assert (block.shortcut is not None) == projected
    x = torch.randn(2, in_channels, 8, 8)
    out = block(x)
    assert out.shape == (2, out_channels, 8 // stride, 8 // stride)
    if projected:
        conv = block.shortcut[0]
        assert conv.kernel_size == (1, 1) and conv.stride == (stride, stride)
        shortcut = block.shortcut(x)
    else:
        shortcut = x
    # The block adds its input (or its projection) to the residual branch before the activation.
    torch.testing.assert_close(out, torch.relu(block.residual(x) + shortcut))
    assert not torch.allclose(out, torch.relu(block.residual(x)))


@pytest.mark.parametrize("size, side", [(28, 7), (8, 2)])
def test_resnet_stem_keeps_the_size_and_later_stages_halve_it(size, side):
    model = ResNet((1, size, size), 10).eval()
    x = torch.randn(2, 1, size, size)
    stem = model.stem(x)
    assert stem.shape == (2, 16, size, size)  # no stride and no max pool in the stem
    assert model.stages(stem).shape == (2, 64, side, side)
    assert modules(model, nn.AvgPool2d)[0].kernel_size == (side, side)
    assert modules(model, nn.Linear)[0].in_features == 64


def test_resnet_norm_knob():
    batch = ResNet((1, 8, 8), 10, blocks_per_stage=[1, 1], channels=[4, 8])
    # stem, 2 per block, and the projection's
    assert len(modules(batch, nn.BatchNorm2d)) == 1 + 2 * 2 + 1
    assert all(c.bias is None for c in modules(batch, nn.Conv2d))
    plain = ResNet((1, 8, 8), 10, blocks_per_stage=[1, 1], channels=[4, 8], norm=None)
    assert not modules(plain, nn.BatchNorm2d)
    assert all(c.bias is not None for c in modules(plain, nn.Conv2d))


def test_resnet_refuses_more_halvings_than_the_image_survives():
    ResNet((1, 8, 8), 10, blocks_per_stage=[1] * 4, channels=[4] * 4)  # 8 -> 4 -> 2 -> 1
    with pytest.raises(ValueError, match="at least 16x16.*use at most 4 stages"):
        ResNet((1, 8, 8), 10, blocks_per_stage=[1] * 5, channels=[4] * 5)
    with pytest.raises(ValueError, match="one channel count per stage"):
        ResNet((1, 8, 8), 10, blocks_per_stage=[2, 2], channels=[16, 32, 64])


# -- through the real config ------------------------------------------------------------------


@pytest.mark.parametrize("name", PRESETS)
def test_preset_trains_on_digits(tmp_path, name):
    run = build_from_overrides(tmp_path, f"model={name}")
    model = run.task.model
    assert type(model) is PRESETS[name]
    before = [p.detach().clone() for p in model.parameters()]
    run.trainer.fit(run.task, datamodule=run.datamodule)
    assert run.trainer.global_step == 5  # debug=fast: five optimizer steps
    assert all(not torch.equal(b, p) for b, p in zip(before, model.parameters()) if p.requires_grad)
    last = run.history.epochs[-1]
    assert math.isfinite(last["train/loss"]) and math.isfinite(last["val/loss"])


def test_too_deep_vgg_on_digits_fails_before_training(tmp_path):
    with pytest.raises(ConfigError, match="needs images of at least 16x16.*8x8; use at most 3 blocks"):
        build_from_overrides(tmp_path, "model=vgg", "model.blocks=[1,1,1,1]", "model.channels=[8,8,8,8]")


def test_ls_shows_the_architectures(dlrun):
    done = dlrun("ls", "model")
    assert done.returncode == 0, done.stderr
    for name in PRESETS:
        description = (CONF / f"{name}.yaml").read_text().splitlines()[0].removeprefix("# ")
        assert any(line.split()[:1] == [name] and description in line for line in done.stdout.splitlines())
