"""Image preprocessing and augmentation ops, checked against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dlrun.data.image_ops import (
    ImageAugmentation,
    ImagePreprocessing,
    add_noise,
    gaussian_blur,
    median_filter,
    random_brightness,
    random_contrast,
    random_crop,
    random_hflip,
    random_rotate,
    resize,
    to_grayscale,
)
from dlrun.errors import ConfigError

# -- preprocessing -----------------------------------------------------------------------------


def test_blur_of_a_delta_is_the_gaussian_kernel():
    sigma, size, centre = 1.5, 21, 10
    images = torch.zeros(1, 2, size, size)
    images[0, 0, centre, centre] = 1.0  # the second channel stays black: channels are blurred apart
    blurred = gaussian_blur(images, sigma)

    radius = math.ceil(3 * sigma)  # 5
    offsets = range(-radius, radius + 1)
    kernel = np.array([[math.exp(-(x * x + y * y) / (2 * sigma**2)) for x in offsets] for y in offsets])
    kernel /= kernel.sum()
    expected = np.zeros((size, size))
    expected[centre - radius : centre + radius + 1, centre - radius : centre + radius + 1] = kernel
    assert blurred.shape == images.shape
    np.testing.assert_allclose(blurred[0, 0].numpy(), expected, atol=1e-7)
    assert float(blurred[0, 1].abs().max()) == 0.0


def test_blur_keeps_a_constant_image_up_to_its_borders():
    images = torch.full((2, 1, 9, 7), 4.0)
    np.testing.assert_allclose(gaussian_blur(images, 2.0).numpy(), 4.0, rtol=1e-6)  # mirrored borders


def test_median_filter_removes_a_single_spike():
    images = torch.full((1, 1, 7, 7), 3.0)
    images[0, 0, 3, 4] = 100.0
    assert torch.equal(median_filter(images, 3), torch.full((1, 1, 7, 7), 3.0))


def test_median_filter_values_by_hand():
    images = torch.arange(25.0).view(1, 1, 5, 5)
    filtered = median_filter(images, 3)[0, 0]
    assert filtered[2, 2] == 12.0  # median of 6 7 8 11 12 13 16 17 18
    # The corner's window mirrors row 1 and column 1: 6 5 6 / 1 0 1 / 6 5 6, median 5.
    assert filtered[0, 0] == 5.0


def test_resize_shape_and_bilinear_values():
    assert resize(torch.rand(3, 2, 28, 28), [32, 20]).shape == (3, 2, 32, 20)
    # Output pixel x samples the input at (x + 0.5) / 2 - 0.5: -0.25, 0.25, 0.75, 1.25, clamped to [0, 1].
    row = resize(torch.tensor([[[[0.0, 1.0]]]]), [1, 4])
    np.testing.assert_allclose(row.flatten().numpy(), [0.0, 0.25, 0.75, 1.0])


def test_grayscale_averages_channels_and_leaves_one_channel_alone():
    rgb = torch.tensor([[[[0.0]], [[3.0]], [[9.0]]]])  # one 1x1 pixel with R, G, B
    assert torch.equal(to_grayscale(rgb), torch.tensor([[[[4.0]]]]))
    gray = torch.rand(2, 1, 4, 4)
    assert to_grayscale(gray) is gray


def _splits():
    generator = torch.Generator().manual_seed(0)
    train = torch.randint(0, 256, (50, 2, 4, 4), generator=generator, dtype=torch.uint8)
    val = torch.randint(100, 256, (20, 2, 4, 4), generator=generator, dtype=torch.uint8)  # brighter on purpose
    return {"train": train, "val": val}


def test_standard_scaling_uses_training_statistics_per_channel():
    splits = _splits()
    scaled, black = ImagePreprocessing("standard")(splits)
    train = splits["train"].numpy().astype(np.float64)
    mean = train.mean(axis=(0, 2, 3)).reshape(1, -1, 1, 1)
    std = train.std(axis=(0, 2, 3)).reshape(1, -1, 1, 1)
    expected_val = (splits["val"].numpy() - mean) / std
    np.testing.assert_allclose(scaled["val"].numpy(), expected_val, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scaled["train"].numpy(), (train - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(black.numpy(), -mean.flatten() / std.flatten(), rtol=1e-5)
    assert scaled["val"].mean() > 0.5  # the brighter split was not centred on its own statistics


def test_minmax_scaling_maps_the_training_range_to_0_1():
    splits = _splits()
    scaled, black = ImagePreprocessing("minmax")(splits)
    train = splits["train"].numpy().astype(np.float64)
    low = train.min(axis=(0, 2, 3)).reshape(1, -1, 1, 1)
    high = train.max(axis=(0, 2, 3)).reshape(1, -1, 1, 1)
    np.testing.assert_allclose(scaled["val"].numpy(), (splits["val"].numpy() - low) / (high - low), rtol=1e-5)
    np.testing.assert_allclose(black.numpy(), -low.flatten() / (high - low).flatten(), rtol=1e-5)


def test_no_scaling_keeps_pixel_values_and_filters_in_order():
    delta = torch.zeros(1, 1, 15, 15, dtype=torch.uint8)
    delta[0, 0, 7, 7] = 255
    # The median runs first and removes the lone bright pixel, so nothing is left to blur.
    out, black = ImagePreprocessing(None, median=3, blur=1.0)({"train": delta})
    assert float(out["train"].abs().max()) == 0.0 and float(black) == 0.0
    out, _ = ImagePreprocessing(None, blur=1.0)({"train": delta})
    assert torch.allclose(out["train"], gaussian_blur(delta.float(), 1.0))


@pytest.mark.parametrize(
    "options",
    [dict(scaling="zscore"), dict(resize=[32]), dict(blur=0), dict(median=4), dict(median=0)],
)
def test_bad_preprocessing_options_are_config_errors(options):
    with pytest.raises(ConfigError, match="data\\."):
        ImagePreprocessing(**options)


# -- augmentation ------------------------------------------------------------------------------


def test_hflip_probability_one_is_torch_flip_and_zero_changes_nothing():
    images = torch.rand(8, 3, 5, 6)
    assert torch.equal(random_hflip(images, 1.0), torch.flip(images, dims=[-1]))
    assert torch.equal(random_hflip(images, 0.0), images)


def test_hflip_flips_each_example_independently():
    torch.manual_seed(0)
    images = torch.rand(400, 1, 4, 4)
    out = random_hflip(images, 0.5)
    flipped = (out == images.flip(-1)).flatten(1).all(1)
    kept = (out == images).flatten(1).all(1)
    assert bool((flipped ^ kept).all())  # every example is either flipped or left as it was
    assert 0.4 < flipped.float().mean() < 0.6


def _shifted(image: torch.Tensor, dy: int, dx: int, fill: float) -> torch.Tensor:
    """image moved down by dy and right by dx, uncovered pixels set to fill."""
    out = torch.full_like(image, fill)
    h, w = image.shape[-2:]
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = image[
        ..., max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
    ]
    return out


def test_crop_with_padding_shifts_content_by_at_most_the_padding():
    torch.manual_seed(0)
    padding, fill = 2, -1.0
    images = torch.arange(1.0, 1 + 2 * 6 * 7).view(1, 2, 6, 7).repeat(200, 1, 1, 1)
    out = random_crop(images, padding, fill)
    assert out.shape == images.shape
    shifts = []
    for image, cropped in zip(images, out, strict=True):
        matches = [
            (dy, dx)
            for dy in range(-padding, padding + 1)
            for dx in range(-padding, padding + 1)
            if torch.equal(cropped, _shifted(image, dy, dx, fill))
        ]
        assert len(matches) == 1
        shifts.append(matches[0])
    assert len(set(shifts)) == (2 * padding + 1) ** 2  # every offset occurs: random per example


def test_rotation_moves_a_spot_by_the_drawn_angle_on_a_non_square_image():
    h, w, n, max_degrees = 31, 41, 16, 30.0
    images = torch.zeros(n, 1, h, w)
    images[:, 0, 15, 30] = 1.0  # 10 pixels right of the centre (15, 20)
    torch.manual_seed(3)
    out = random_rotate(images, max_degrees)
    torch.manual_seed(3)
    angles = (torch.rand(n) * 2 - 1) * math.radians(max_degrees)  # the draws random_rotate made

    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    mass = out[:, 0].sum(dim=(1, 2))
    cy = (out[:, 0] * ys).sum(dim=(1, 2)) / mass
    cx = (out[:, 0] * xs).sum(dim=(1, 2)) / mass
    # grid_sample reads output pixel p from R(angle) p, so content moves by R(-angle): y down, x right.
    np.testing.assert_allclose(cx.numpy(), (20 + 10 * angles.cos()).numpy(), atol=0.1)
    np.testing.assert_allclose(cy.numpy(), (15 - 10 * angles.sin()).numpy(), atol=0.1)
    assert angles.abs().max() > math.radians(max_degrees) / 2  # the check above saw real rotations


def test_rotation_fills_corners_with_the_fill_value():
    torch.manual_seed(0)
    black = torch.tensor([-2.0, 5.0])
    images = black.view(1, 2, 1, 1).expand(4, 2, 8, 8).clone()
    assert torch.allclose(random_rotate(images, 45.0, black), images)
    assert torch.allclose(random_crop(images, 3, black), images)


def test_noise_std_is_measured_within_ten_percent():
    torch.manual_seed(0)
    images = torch.rand(64, 1, 28, 28)
    noise = add_noise(images, 0.3) - images
    assert abs(float(noise.std()) - 0.3) < 0.03
    assert abs(float(noise.mean())) < 0.01


def test_brightness_scales_around_black_by_a_factor_per_example():
    torch.manual_seed(0)
    black = -1.0
    images = torch.rand(100, 1, 5, 5) * 0.9 + 0.1 + black  # away from black, for exact ratios
    images[:, :, 0, 0] = black
    out = random_brightness(images, 0.4, black)
    factors = (out - black) / (images - black)
    per_example = factors[:, :, 1:, 1:].flatten(1)
    assert torch.allclose(per_example, per_example[:, :1].expand_as(per_example), atol=1e-4)
    assert per_example.min() >= 0.6 - 1e-6 and per_example.max() <= 1.4 + 1e-6
    assert per_example[:, 0].std() > 0.1  # different factors for different examples
    assert torch.equal(out[:, :, 0, 0], images[:, :, 0, 0])  # black stays black


def test_contrast_stretches_each_image_about_its_mean():
    torch.manual_seed(0)
    signs = torch.tensor([1.0, -1.0]).repeat(25)[:50].view(1, 2, 5, 5)
    images = signs * (0.5 + 0.5 * torch.rand(100, 2, 5, 5))  # every pixel far from its image's mean
    out = random_contrast(images, 0.5)
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    assert torch.allclose(out.mean(dim=(1, 2, 3), keepdim=True), mean, atol=1e-5)
    factors = ((out - mean) / (images - mean)).flatten(1)
    assert torch.allclose(factors, factors[:, :1].expand_as(factors), atol=1e-4)  # one factor per example
    assert factors.min() >= 0.5 - 1e-5 and factors.max() <= 1.5 + 1e-5 and factors[:, 0].std() > 0.1


def test_augmentation_is_off_by_default_and_never_changes_its_input():
    assert not ImageAugmentation().active
    images = torch.rand(10, 1, 6, 6)
    before = images.clone()
    augment = ImageAugmentation(
        crop_padding=1, hflip=0.5, rotate_degrees=10, noise_std=0.1, brightness=0.2, contrast=0.2
    )
    batch = {"inputs": images, "targets": torch.arange(10)}
    out = augment(batch)
    assert augment.active
    assert torch.equal(images, before)
    assert out["targets"] is batch["targets"] and out["inputs"].shape == images.shape
    assert not torch.equal(out["inputs"], images)


def test_unknown_or_bad_augmentation_options_are_config_errors():
    with pytest.raises(ConfigError, match="Did you mean hflip"):
        ImageAugmentation.from_options({"hflp": 0.5})
    with pytest.raises(ConfigError, match="data.augment.hflip"):
        ImageAugmentation.from_options({"hflip": 1.5})
    with pytest.raises(ConfigError, match="data.augment.crop_padding"):
        ImageAugmentation.from_options({"crop_padding": -2})
