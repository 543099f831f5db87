"""Image preprocessing and augmentation as batched tensor ops on (N, C, H, W) float tensors.

torchvision cannot be installed next to the CPU torch wheel (see DESIGN.md), and batched ops are
what we want anyway: augmentation runs on whole batches on the training device, one kernel per op
rather than one Python call per image. Random ops draw from torch's global RNG (seeded by the run's
`seed`), independently per example. `fill` is the value, per channel, that a black pixel has after
preprocessing: padding, rotation corners and brightness work around it, so they mean the same on
standardized images as on raw ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from dlrun.choices import check_config_choice
from dlrun.data.loader import Batch
from dlrun.data.splits import Scaling
from dlrun.errors import ConfigError, check_known_options

# Filtering a large split at once would need k*k copies of it (median) or several float copies.
CHUNK = 4096

# -- preprocessing: deterministic ------------------------------------------------------------


def to_grayscale(images: Tensor) -> Tensor:
    """The channel average (an image with one channel is returned as it is)."""
    return images if images.shape[1] == 1 else images.mean(dim=1, keepdim=True)


def resize(images: Tensor, size: Sequence[int]) -> Tensor:
    # Antialiasing only acts when shrinking, where plain bilinear sampling would skip pixels.
    return F.interpolate(images, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)


def gaussian_kernel_1d(sigma: float, radius: int) -> Tensor:
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def gaussian_blur(images: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur, the kernel cut at 3 sigma; borders are mirrored, so edges keep
    their brightness."""
    _, channels, height, width = images.shape
    radius = min(math.ceil(3 * sigma), height - 1, width - 1)  # reflect padding must fit in the image
    kernel = gaussian_kernel_1d(sigma, radius).to(images)
    padded = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    rows = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(rows, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def median_filter(images: Tensor, size: int) -> Tensor:
    """Each pixel replaced by the median of its size x size neighbourhood (size odd; mirrored borders)."""
    r = size // 2
    padded = F.pad(images, (r, r, r, r), mode="reflect")
    windows = padded.unfold(2, size, 1).unfold(3, size, 1)  # a view: (N, C, H, W, size, size)
    # Copied with each window contiguous: torch's median is several times faster along the last axis.
    return windows.reshape(*images.shape, size * size).median(dim=-1).values


# -- augmentation: random per example ---------------------------------------------------------


def _per_channel(fill: Tensor | float) -> Tensor | float:
    return fill.view(1, -1, 1, 1) if isinstance(fill, Tensor) else fill


def random_crop(images: Tensor, padding: int, fill: Tensor | float = 0.0) -> Tensor:
    """Pad each side by `padding` with `fill`, then cut a window of the original size at a random
    offset: the content moves by up to `padding` pixels in each direction."""
    n, _, height, width = images.shape
    fill = _per_channel(fill)
    padded = F.pad(images - fill, (padding, padding, padding, padding)) + fill
    top = torch.randint(0, 2 * padding + 1, (n, 1), device=images.device)
    left = torch.randint(0, 2 * padding + 1, (n, 1), device=images.device)
    rows = (top + torch.arange(height, device=images.device))[:, :, None]  # (N, H, 1)
    cols = (left + torch.arange(width, device=images.device))[:, None, :]  # (N, 1, W)
    examples = torch.arange(n, device=images.device)[:, None, None]
    # Advanced indices around the channel slice put the channels last: (N, H, W, C).
    return padded[examples, :, rows, cols].permute(0, 3, 1, 2)


def random_hflip(images: Tensor, probability: float) -> Tensor:
    flip = torch.rand(len(images), device=images.device) < probability
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def random_rotate(images: Tensor, max_degrees: float, fill: Tensor | float = 0.0) -> Tensor:
    """Rotate each image about its centre by an angle drawn uniformly from [-max_degrees, max_degrees]
    (bilinear; corners that come from outside the image get `fill`)."""
    n, _, height, width = images.shape
    angles = (torch.rand(n, device=images.device) * 2 - 1) * math.radians(max_degrees)
    cos, sin = angles.cos(), angles.sin()
    # affine_grid works in coordinates normalized to [-1, 1] per axis; rescaling by the aspect ratio
    # keeps a non-square image from being sheared.
    theta = torch.stack(
        [
            torch.stack([cos, -sin * height / width, torch.zeros_like(cos)], dim=1),
            torch.stack([sin * width / height, cos, torch.zeros_like(cos)], dim=1),
        ],
        dim=1,
    )
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    fill = _per_channel(fill)
    return F.grid_sample(images - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + fill


def add_noise(images: Tensor, std: float) -> Tensor:
    return images + torch.randn_like(images) * std


def _factors(images: Tensor, amount: float) -> Tensor:
    """One factor per example, uniform in [1 - amount, 1 + amount], shaped to broadcast."""
    return (1 + (torch.rand(len(images), device=images.device, dtype=images.dtype) * 2 - 1) * amount).view(-1, 1, 1, 1)


def random_brightness(images: Tensor, amount: float, fill: Tensor | float = 0.0) -> Tensor:
    """Multiply the intensities by a random factor; black stays black."""
    fill = _per_channel(fill)
    return (images - fill) * _factors(images, amount) + fill


def random_contrast(images: Tensor, amount: float) -> Tensor:
    """Stretch each image about its own mean by a random factor."""
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return (images - mean) * _factors(images, amount) + mean


# -- what the config asks for -----------------------------------------------------------------


class ImagePreprocessing:
    """Applied once to every split: grayscale, resize, median, blur, then scaling with statistics of
    the training split only. The median comes before the blur so that isolated spikes are removed
    rather than smeared into blobs."""

    def __init__(
        self,
        scaling: Scaling | None = "standard",
        grayscale: bool = False,
        resize: Sequence[int] | None = None,
        blur: float | None = None,
        median: int | None = None,
    ) -> None:
        check_config_choice("data.scaling", scaling, Scaling | None)
        if resize is not None:
            resize = tuple(resize)
            if len(resize) != 2 or not all(isinstance(s, int) and s > 0 for s in resize):
                raise ConfigError(
                    f"data.resize must be [height, width] in pixels, e.g. [32, 32], or null; got {list(resize)}."
                )
        if blur is not None and not (isinstance(blur, int | float) and blur > 0):
            raise ConfigError(
                f"data.blur is the Gaussian's sigma in pixels, a number above 0 (e.g. 1.0), or null; got {blur}."
            )
        if median is not None and not (isinstance(median, int) and median >= 1 and median % 2 == 1):
            raise ConfigError(
                f"data.median is the filter's window size, an odd whole number such as 3 or 5, or null; got {median}."
            )
        self.scaling = scaling
        self.grayscale = bool(grayscale)
        self.resize = resize
        self.blur = blur
        self.median = median

    def __call__(self, splits: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], Tensor]:
        """The splits as float32 (N, C, H, W), and the value a black pixel now has, per channel."""
        filtered = {name: self.filter(images) for name, images in splits.items()}
        shift, scale = self.fit_scaling(filtered["train"])
        for images in filtered.values():
            images.sub_(shift).div_(scale)  # in place: the full set is large
        return filtered, (-shift / scale).flatten()

    def filter(self, images: Tensor) -> Tensor:
        if not (self.grayscale or self.resize or self.blur or self.median):
            return images.to(torch.float32, copy=True)  # a copy: scaling then works in place
        return torch.cat([self._filter_chunk(chunk.float()) for chunk in images.split(CHUNK)])

    def _filter_chunk(self, images: Tensor) -> Tensor:
        if self.grayscale:
            images = to_grayscale(images)
        if self.resize is not None:
            images = resize(images, self.resize)
        if self.median is not None and self.median > 1:
            images = median_filter(images, self.median)
        if self.blur is not None:
            images = gaussian_blur(images, self.blur)
        return images

    def fit_scaling(self, train: Tensor) -> tuple[Tensor, Tensor]:
        """Per-channel shift and scale, shaped (1, C, 1, 1), from the training images."""
        channels = train.shape[1]
        if self.scaling is None:
            return torch.zeros(1, channels, 1, 1), torch.ones(1, channels, 1, 1)
        per_channel = train.transpose(0, 1).reshape(channels, -1)
        if self.scaling == "standard":
            scale, shift = torch.std_mean(per_channel, dim=1, correction=0)
        else:
            low, high = per_channel.aminmax(dim=1)
            shift, scale = low, high - low
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # a constant channel stays as it is
        return shift.view(1, -1, 1, 1), scale.view(1, -1, 1, 1)


@dataclass(frozen=True)
class ImageAugmentation:
    """Random changes to training batches, all off by default; see the ops above for what each does."""

    crop_padding: int = 0
    hflip: float = 0.0
    rotate_degrees: float = 0.0
    noise_std: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    fill: Tensor | float = 0.0
    _fill_on: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        checks = [
            ("crop_padding", isinstance(self.crop_padding, int) and self.crop_padding >= 0, "a whole number, 0 = off"),
            ("hflip", 0.0 <= self.hflip <= 1.0, "a probability between 0 and 1"),
            ("rotate_degrees", 0.0 <= self.rotate_degrees <= 180.0, "the largest angle in degrees, 0 to 180"),
            ("noise_std", self.noise_std >= 0.0, "a standard deviation of at least 0"),
            ("brightness", 0.0 <= self.brightness <= 1.0, "between 0 and 1 (factors drawn from [1 - b, 1 + b])"),
            ("contrast", 0.0 <= self.contrast <= 1.0, "between 0 and 1 (factors drawn from [1 - c, 1 + c])"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ConfigError(f"data.augment.{name} must be {expected}; got {getattr(self, name)}.")

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> ImageAugmentation:
        """From the config's `augment` mapping, naming any key it does not know."""
        options = dict(options or {})
        known = [f.name for f in fields(cls) if f.name not in ("fill", "_fill_on")]
        check_known_options("data.augment", options, known)
        return cls(**options)

    @property
    def active(self) -> bool:
        return any((self.crop_padding, self.hflip, self.rotate_degrees, self.noise_std, self.brightness, self.contrast))

    def __call__(self, batch: Batch) -> Batch:
        images = batch["inputs"]
        fill = self._fill_for(images.device)
        if self.crop_padding:
            images = random_crop(images, self.crop_padding, fill)
        if self.hflip:
            images = random_hflip(images, self.hflip)
        if self.rotate_degrees:
            images = random_rotate(images, self.rotate_degrees, fill)
        if self.brightness:
            images = random_brightness(images, self.brightness, fill)
        if self.contrast:
            images = random_contrast(images, self.contrast)
        if self.noise_std:
            images = add_noise(images, self.noise_std)
        return {**batch, "inputs": images}

    def _fill_for(self, device: torch.device) -> Tensor | float:
        """`fill` on the batches' device, copied there once rather than once per batch."""
        if not isinstance(self.fill, Tensor):
            return self.fill
        if device not in self._fill_on:
            self._fill_on[device] = self.fill.to(device)
        return self._fill_on[device]
