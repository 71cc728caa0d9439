"""Augmentation: the random views that self-supervised learning compares.

Two pipelines, both batched, device-agnostic and built on kornia, drawing fresh random
parameters for every sample:

* ``SSLAugment("rgb")``: the SimCLR recipe for RGB images (random resized crop,
  horizontal flip, colour jitter, random grayscale);
* ``SSLAugment("channels")``: the same geometry for images with any number of channels
  (multiplex markers, spectral bands), with a per-channel intensity jitter and a Gaussian
  blur in place of the RGB-only colour operations.

Each pipeline has a *geometric* stage (crop, flip) and a *photometric* stage; the
photometric stage can be limited to the first ``photometric_channels`` channels, so
that channels carrying a code (RandBits' constant bit planes) keep their values. SpliCER's
components can be augmented **independently** of the primary view or with the **same
geometry**: :meth:`SSLAugment.with_components` does the latter by stacking the primary
view and its zero-filled components along the channel axis, so one geometric draw moves
them all alike; the photometric stage is always drawn per image.

Inputs are float images in [0, 1], x: (B, C, H, W); outputs have the input's shape.
"""

from __future__ import annotations

import kornia.augmentation as K
import torch
from torch import nn

KINDS = ("rgb", "channels")


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
        self._geometric: dict[tuple[int, int], K.AugmentationSequential] = {}
        steps: list[nn.Module] = []
        if kind == "rgb":
            steps.append(K.ColorJitter(jitter, jitter, jitter, jitter / 4, p=jitter_p))
            steps.append(K.RandomGrayscale(p=grayscale_p))
        else:
            steps.append(RandomChannelIntensity(jitter, p=jitter_p))
        if blur_p > 0:
            steps.append(K.RandomGaussianBlur((3, 3), sigma=(0.1, 1.0), p=blur_p))
        self.photometric = nn.Sequential(*steps)

    def geometric(self, size: tuple[int, int]) -> K.AugmentationSequential:
        """The crop-and-flip stage for images of ``size = (H, W)`` (built once per size)."""
        if size not in self._geometric:
            aspect = size[1] / size[0]
            self._geometric[size] = K.AugmentationSequential(
                K.RandomResizedCrop(size, scale=self.crop_scale, ratio=(aspect * 3 / 4, aspect * 4 / 3)),
                K.RandomHorizontalFlip(p=self.flip_p),
            )
        return self._geometric[size]

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
        x = self.geometric(tuple(x.shape[-2:]))(x)
        return self.paint(x)

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
        stacked = torch.cat([x.unsqueeze(1), components], dim=1).flatten(1, 2)
        moved = self.geometric((height, width))(stacked).unflatten(1, (k + 1, channels))
        painted = self.paint(moved.flatten(0, 1)).unflatten(0, (batch, k + 1))
        return painted[:, 0], painted[:, 1:]
