"""Augmentation: the random views that self-supervised learning compares.

Two pipelines, batched and device-agnostic, drawing fresh random parameters for every
sample:

* ``SSLAugment("rgb")``: the SimCLR recipe for RGB images (random resized crop,
  horizontal flip, colour jitter, random grayscale);
* ``SSLAugment("channels")``: the same geometry for images with any number of channels
  (multiplex markers, spectral bands), with a per-channel intensity jitter and an
  optional Gaussian blur in place of the RGB-only colour operations.

Each pipeline has a *geometric* stage (crop, flip) and a *photometric* stage; the
photometric stage can be limited to the first ``photometric_channels`` channels, so
that channels carrying a code (RandBits' constant bit planes) keep their values. SpliCER's
components can be augmented **independently** of the primary view or with the **same
geometry** (:meth:`SSLAugment.with_components`); the photometric stage is always drawn per
image.

How it is fast. kornia's generic ``AugmentationSequential`` draws and applies each
operation through a general framework, which caps a GPU at about 10,000 images/s for our
image sizes (a measurement made for this project, on an H200). Here each stage is a handful of
batched tensor operations: the crop and flip of a whole batch are one affine resampling
(:func:`crop_flip`), and the colour jitter applies kornia's *functional* operations
(``kornia.enhance``) with one random factor per sample. The benchmark
(``python -m splicer_tutorial bench``) measures both pipelines in one run.

Inputs are float images in [0, 1], x: (B, C, H, W); outputs have the input's shape.
"""

from __future__ import annotations

import math

import kornia.augmentation as K
import kornia.color
import kornia.enhance
import torch
import torch.nn.functional as F
from torch import nn

KINDS = ("rgb", "channels")


def sample_crop_flip(
    batch: int,
    height: int,
    width: int,
    scale: tuple[float, float] = (0.25, 1.0),
    ratio: tuple[float, float] | None = None,
    flip_p: float = 0.5,
    device: torch.device | str | None = None,
) -> dict[str, torch.Tensor]:
    """Random resized crop and flip parameters, one draw per sample.

    The crop's area is a fraction ``U(scale)`` of the image and its aspect ratio
    (width / height) is log-uniform in ``ratio`` (default: the image's own aspect times
    3/4 to 4/3, as SimCLR's crop on square images). A ratio that would make the box stick
    out of the image is pulled back to the nearest one that fits (torchvision redraws
    instead), so the area is always exactly the one drawn; ``scale=(1, 1)`` gives the whole
    image. The box is placed uniformly inside the image.

    Returns ``{"area": (B,), "ratio": (B,), "box": (B, 4) [left, top, width, height] in
    pixels, "flip": (B,) bool}``.
    """
    aspect = width / height
    low, high = ratio if ratio is not None else (aspect * 3 / 4, aspect * 4 / 3)
    area = torch.empty(batch, device=device).uniform_(*scale)
    log_ratio = torch.empty(batch, device=device).uniform_(math.log(low), math.log(high))
    # w = sqrt(area * ratio * H * W) <= W and h <= H  <=>  area * aspect <= ratio <= aspect / area
    box_ratio = torch.minimum(torch.maximum(log_ratio.exp(), area * aspect), aspect / area)
    w = (area * height * width * box_ratio).sqrt().clamp(max=width)  # clamp: rounding only
    h = (area * height * width / box_ratio).sqrt().clamp(max=height)
    left = torch.rand(batch, device=device) * (width - w)
    top = torch.rand(batch, device=device) * (height - h)
    flip = torch.rand(batch, device=device) < flip_p
    return {"area": area, "ratio": box_ratio, "box": torch.stack([left, top, w, h], dim=1), "flip": flip}


def crop_flip(x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """Cut each sample's box out, resize it to the image size, and mirror it where drawn.

    x: (B, C, H, W); ``params`` from :func:`sample_crop_flip` with one draw per sample
    (B draws). Returns (B, C, H, W).

    One ``affine_grid`` and one ``grid_sample`` for the whole batch. (kornia's
    ``warp_affine`` would invert a pixel-space matrix per sample to get here; the crop's
    inverse map is direct in normalised coordinates, so it is written out.)
    """
    batch, _, height, width = x.shape
    left, top, w, h = params["box"].to(x.dtype).unbind(1)
    sign = 1 - 2 * params["flip"].to(x.dtype)
    theta = torch.zeros(batch, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = sign * w / width  # output x in [-1, 1] -> input x, mirrored where flipped
    theta[:, 0, 2] = (2 * left + w) / width - 1  # the box's centre, normalised
    theta[:, 1, 1] = h / height
    theta[:, 1, 2] = (2 * top + h) / height - 1
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class ColourJitter(nn.Module):
    """SimCLR's colour jitter and random grayscale for RGB batches, one draw per sample.

    With probability ``p`` a sample gets brightness ``x * b``, contrast, saturation (each
    factor ``U(1 - strength, 1 + strength)``) and a hue shift ``U(-strength/4, strength/4)``
    of a turn, in that order (kornia's functional ``enhance`` operations, which take a
    factor per sample); then, with probability ``grayscale_p``, it turns grey. With
    ``strength=0`` (or ``p=0``) and ``grayscale_p=0`` it is the identity.
    """

    def __init__(self, strength: float = 0.4, p: float = 0.8, grayscale_p: float = 0.2) -> None:
        super().__init__()
        if strength < 0 or not 0 <= p <= 1 or not 0 <= grayscale_p <= 1:
            raise ValueError(
                f"strength must be >= 0 and p, grayscale_p in [0, 1], got strength={strength}, "
                f"p={p}, grayscale_p={grayscale_p}."
            )
        self.strength, self.p, self.grayscale_p = strength, p, grayscale_p

    def factor(self, batch: int, spread: float, identity: float, applied: torch.Tensor) -> torch.Tensor:
        drawn = identity + spread * (2 * torch.rand(batch, device=applied.device) - 1)
        return torch.where(applied, drawn, torch.full_like(drawn, identity))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        if self.strength > 0 and self.p > 0:
            applied = torch.rand(batch, device=x.device) < self.p
            s = self.strength
            x = (x * self.factor(batch, s, 1.0, applied).view(-1, 1, 1, 1).to(x.dtype)).clamp(0, 1)
            x = kornia.enhance.adjust_contrast_with_mean_subtraction(x, self.factor(batch, s, 1.0, applied))
            x = kornia.enhance.adjust_saturation_with_gray_subtraction(x, self.factor(batch, s, 1.0, applied))
            hue = self.factor(batch, s / 4, 0.0, applied) * 2 * math.pi  # a fraction of a turn, in radians
            x = kornia.enhance.adjust_hue(x, hue)
        if self.grayscale_p > 0:
            grey = torch.rand(batch, device=x.device) < self.grayscale_p
            x = torch.where(grey.view(-1, 1, 1, 1), kornia.color.rgb_to_grayscale(x).expand_as(x), x)
        return x


class RandomChannelIntensity(nn.Module):
    """Per-sample, per-channel gain and offset: ``x[b, c] * g[b, c] + o[b, c]``.

    ``g ~ U(1 - strength, 1 + strength)`` and ``o ~ U(-strength / 2, strength / 2)``,
    applied to each sample with probability ``p``. With ``strength=0`` it is the identity.
    kornia's intensity operators draw one factor per image (or are RGB-only), so this
    channel-wise version is written as two tensor operations.
    """

    def __init__(self, strength: float = 0.4, p: float = 0.8) -> None:
        super().__init__()
        if strength < 0 or not 0 <= p <= 1:
            raise ValueError(
                f"strength must be >= 0 and p in [0, 1], got strength={strength}, p={p}."
            )
        self.strength, self.p = strength, p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels = x.shape[:2]
        shape = (batch, channels, 1, 1)
        gain = 1 + self.strength * (2 * torch.rand(shape, device=x.device, dtype=x.dtype) - 1)
        offset = self.strength * (torch.rand(shape, device=x.device, dtype=x.dtype) - 0.5)
        apply = (torch.rand(batch, 1, 1, 1, device=x.device) < self.p).to(x.dtype)
        return (x * gain + offset) * apply + x * (1 - apply)


class SSLAugment(nn.Module):
    """A SimCLR-style augmentation for RGB (``kind="rgb"``) or C-channel (``"channels"``) images.

    Args:
        kind: ``"rgb"`` or ``"channels"``.
        crop_scale: range of the crop's area as a fraction of the image.
        flip_p: probability of a horizontal flip.
        jitter: colour-jitter strength (brightness, contrast, saturation; hue is a quarter
            of it) for ``"rgb"``; per-channel intensity strength for ``"channels"``.
        jitter_p: probability of applying the jitter to a sample.
        grayscale_p: probability of grayscale (``"rgb"`` only).
        blur_p: probability of a 3x3 Gaussian blur.
        photometric_channels: apply the photometric stage to the first this-many channels
            only (``"channels"`` kind); the others are only cropped and flipped, so a
            constant channel stays constant. ``None``: all channels.

    x: (B, C, H, W) float in [0, 1] -> (B, C, H, W).
    """

    def __init__(
        self,
        kind: str = "rgb",
        crop_scale: tuple[float, float] = (0.25, 1.0),
        flip_p: float = 0.5,
        jitter: float = 0.4,
        jitter_p: float = 0.8,
        grayscale_p: float = 0.2,
        blur_p: float = 0.0,
        photometric_channels: int | None = None,
    ) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind is {kind!r}; use one of {KINDS}.")
        if photometric_channels is not None and (kind == "rgb" or photometric_channels < 0):
            raise ValueError(
                f"photometric_channels={photometric_channels!r} needs kind='channels' and a count >= 0; "
                "leave it None to jitter every channel."
            )
        self.photometric_channels = photometric_channels
        lo, hi = crop_scale
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"crop_scale must satisfy 0 < low <= high <= 1, got {crop_scale}.")
        self.kind, self.crop_scale, self.flip_p = kind, (lo, hi), flip_p
        steps: list[nn.Module] = []
        if kind == "rgb":
            steps.append(ColourJitter(jitter, p=jitter_p, grayscale_p=grayscale_p))
        else:
            steps.append(RandomChannelIntensity(jitter, p=jitter_p))
        if blur_p > 0:
            # optional and off by default; kornia's module draws a sigma per sample
            steps.append(K.RandomGaussianBlur((3, 3), sigma=(0.1, 1.0), p=blur_p))
        self.photometric = nn.Sequential(*steps)

    def sample_geometry(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One crop-and-flip draw per sample of x (B, C, H, W): see :func:`sample_crop_flip`."""
        return sample_crop_flip(x.shape[0], x.shape[2], x.shape[3], self.crop_scale, flip_p=self.flip_p,
                                device=x.device)

    def geometric(self, size: tuple[int, int] | None = None):
        """The crop-and-flip stage as a function of x (B, C, H, W): a fresh draw per call.

        (``size`` is accepted for compatibility; the stage works at any size.)
        """
        return lambda x: crop_flip(x, self.sample_geometry(x))

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 4:
            raise ValueError(f"x must be (B, C, H, W), got shape {tuple(x.shape)}.")
        if self.kind == "rgb" and x.shape[1] != 3:
            raise ValueError(
                f"the 'rgb' pipeline needs 3 channels, got {x.shape[1]}; "
                "use SSLAugment('channels') for other channel counts."
            )
        if not x.dtype.is_floating_point:
            raise ValueError(f"x must be float in [0, 1], got dtype {x.dtype}; divide uint8 images by 255.")

    def paint(self, x: torch.Tensor) -> torch.Tensor:
        """The photometric stage alone (on the first ``photometric_channels`` channels)."""
        c = self.photometric_channels
        if c is None or c >= x.shape[1]:
            return self.photometric(x).clamp(0, 1)
        if c == 0:
            return x
        return torch.cat([self.photometric(x[:, :c]).clamp(0, 1), x[:, c:]], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return self.paint(crop_flip(x, self.sample_geometry(x)))

    def views(self, x: torch.Tensor, n: int = 2) -> list[torch.Tensor]:
        """``n`` independent augmented views of x: a list of (B, C, H, W)."""
        return list(self(x.repeat(n, 1, 1, 1)).chunk(n))

    def with_components(
        self, x: torch.Tensor, components: torch.Tensor, same_geometry: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One augmented view of x and one of each of its components.

        x: (B, C, H, W); components: (B, K, C, h, w). Returns (view (B, C, H, W),
        components (B, K, C, h, w)). With ``same_geometry=True`` the view and all of its
        components share one crop and flip per sample (zero-filled components only);
        otherwise every component draws its own.
        """
        if components.ndim != 5 or components.shape[0] != x.shape[0]:
            raise ValueError(
                f"components must be (B, K, C, h, w) with the batch of x {tuple(x.shape)}, "
                f"got {tuple(components.shape)}."
            )
        batch, k, channels, height, width = components.shape
        flat = components.reshape(batch * k, channels, height, width)
        if not same_geometry:
            return self(x), self(flat).reshape(components.shape)
        if (height, width) != tuple(x.shape[-2:]) or channels != x.shape[1]:
            raise ValueError(
                "same_geometry=True needs components of the image's own shape (fill='zero'); "
                f"got components {tuple(components.shape)} for images {tuple(x.shape)}. "
                "Use fill='zero' or same_geometry=False."
            )
        self._check(x)
        # one geometric draw per image, applied to the image and its K components alike
        stacked = torch.cat([x.unsqueeze(1), components], dim=1).flatten(1, 2)
        moved = crop_flip(stacked, self.sample_geometry(x)).unflatten(1, (k + 1, channels))
        painted = self.paint(moved.flatten(0, 1)).unflatten(0, (batch, k + 1))
        return painted[:, 0], painted[:, 1:]
