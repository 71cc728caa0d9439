"""Tests of splicer_tutorial.augment: batched SSL views, shared or independent geometry."""

from __future__ import annotations

import pytest
import torch

from splicer_tutorial.augment import RandomChannelIntensity, SSLAugment
from splicer_tutorial.deconstruct import by_channels, by_sections, grid_boxes, halves

NO_COLOUR = {"jitter_p": 0.0, "grayscale_p": 0.0}


@pytest.fixture(autouse=True)
def seeded() -> None:
    torch.manual_seed(0)


def images(b: int = 6, c: int = 3, h: int = 16, w: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind, channels", [("rgb", 3), ("channels", 1), ("channels", 3), ("channels", 7)])
@pytest.mark.parametrize("size", [(16, 16), (32, 16), (8, 24)])
def test_shapes_and_range(kind: str, channels: int, size) -> None:
    aug = SSLAugment(kind, blur_p=0.5)
    x = images(5, channels, *size)
    y = aug(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert y.min() >= 0 and y.max() <= 1
    assert not torch.equal(y, x)


def test_views_are_independent_and_shaped() -> None:
    aug = SSLAugment("rgb")
    x = images(4)
    v = aug.views(x, n=3)
    assert len(v) == 3 and all(t.shape == x.shape for t in v)
    assert not torch.allclose(v[0], v[1]) and not torch.allclose(v[1], v[2])


@pytest.mark.parametrize("kind", ["rgb", "channels"])
def test_each_sample_draws_its_own_parameters(kind: str) -> None:
    x = images(1).repeat(8, 1, 1, 1)  # eight copies of one image
    y = SSLAugment(kind)(x)
    flat = y.flatten(1)
    distinct = {tuple(row.tolist()) for row in flat.round(decimals=4)}
    assert len(distinct) == 8


def test_full_scale_no_flip_no_colour_is_identity() -> None:
    x = images(6)
    y = SSLAugment("rgb", crop_scale=(1.0, 1.0), flip_p=0.0, **NO_COLOUR)(x)
    assert torch.allclose(y, x, atol=1e-5)
    y = SSLAugment("channels", crop_scale=(1.0, 1.0), flip_p=0.0, jitter_p=0.0)(images(6, 5))
    assert torch.allclose(y, images(6, 5), atol=1e-5)


def test_flip_only_flips_at_its_rate() -> None:
    n = 600
    x = images(n, 3, 8, 8)
    y = SSLAugment("rgb", crop_scale=(1.0, 1.0), flip_p=0.3, **NO_COLOUR)(x)
    same = torch.isclose(y, x, atol=1e-5).flatten(1).all(1)
    flipped = torch.isclose(y, x.flip(-1), atol=1e-5).flatten(1).all(1)
    assert bool((same ^ flipped).all()), "every output is the image or its mirror image"
    rate = flipped.float().mean().item()
    assert abs(rate - 0.3) < 0.06  # binomial sd ~0.019


def test_flip_always_with_p_one() -> None:
    x = images(5)
    y = SSLAugment("channels", crop_scale=(1.0, 1.0), flip_p=1.0, jitter_p=0.0)(x)
    assert torch.allclose(y, x.flip(-1), atol=1e-5)


# ------------------------------------------------------------------ components


@pytest.mark.parametrize("boxes", [halves(32, 16), grid_boxes(32, 16, 2, 2)])
def test_same_geometry_moves_a_partition_with_the_view(boxes) -> None:
    aug = SSLAugment("rgb", crop_scale=(0.2, 1.0), flip_p=0.5, **NO_COLOUR)
    x = images(8, 3, 32, 16)
    parts = by_sections(x, boxes)
    view, comps = aug.with_components(x, parts, same_geometry=True)
    assert view.shape == x.shape and comps.shape == parts.shape
    assert not torch.allclose(view, x)
    # the crop and flip are linear: the augmented halves add up to the augmented view
    assert torch.allclose(comps.sum(1), view, atol=1e-5)


def test_same_geometry_with_channel_groups() -> None:
    aug = SSLAugment("channels", crop_scale=(0.2, 1.0), flip_p=0.5, jitter_p=0.0)
    x = images(6, 7, 16, 16)
    parts = by_channels(x, [[0, 1, 2], [3, 4], [5, 6]])
    view, comps = aug.with_components(x, parts, same_geometry=True)
    assert torch.allclose(comps.sum(1), view, atol=1e-5)


def test_same_geometry_copies_of_the_image_match_the_view() -> None:
    aug = SSLAugment("rgb", crop_scale=(0.2, 1.0), flip_p=0.5, **NO_COLOUR)
    x = images(6)
    view, comps = aug.with_components(x, x.unsqueeze(1).repeat(1, 3, 1, 1, 1), same_geometry=True)
    assert torch.allclose(comps, view.unsqueeze(1).expand_as(comps), atol=1e-6)


def test_independent_geometry_differs() -> None:
    aug = SSLAugment("rgb", crop_scale=(0.2, 1.0), flip_p=0.5, **NO_COLOUR)
    x = images(8, 3, 32, 16)
    parts = by_sections(x, halves(32, 16))
    view, comps = aug.with_components(x, parts, same_geometry=False)
    assert comps.shape == parts.shape
    assert (comps.sum(1) - view).abs().amax(dim=(1, 2, 3)).gt(0.05).all()
    copies = x.unsqueeze(1).repeat(1, 2, 1, 1, 1)
    view, comps = aug.with_components(x, copies, same_geometry=False)
    assert not torch.allclose(comps[:, 0], view) and not torch.allclose(comps[:, 0], comps[:, 1])


def test_independent_geometry_accepts_crops() -> None:
    aug = SSLAugment("rgb")
    x = images(4, 3, 32, 16)
    parts = by_sections(x, halves(32, 16), fill="crop")
    view, comps = aug.with_components(x, parts)
    assert view.shape == (4, 3, 32, 16) and comps.shape == (4, 2, 3, 16, 16)
    assert comps.min() >= 0 and comps.max() <= 1


def test_same_geometry_rejects_crops() -> None:
    x = images(4, 3, 32, 16)
    parts = by_sections(x, halves(32, 16), fill="crop")
    with pytest.raises(ValueError, match=r"same_geometry=True needs components of the image's own shape"):
        SSLAugment("rgb").with_components(x, parts, same_geometry=True)


@pytest.mark.parametrize("components", [torch.zeros(4, 3, 16, 16), torch.zeros(3, 2, 3, 16, 16)])
def test_component_shape_errors(components: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"components must be \(B, K, C, h, w\)"):
        SSLAugment("rgb").with_components(images(4), components)


def test_photometric_is_drawn_per_component() -> None:
    aug = SSLAugment("rgb", crop_scale=(1.0, 1.0), flip_p=0.0, jitter_p=1.0, grayscale_p=0.0)
    x = images(4)
    view, comps = aug.with_components(x, x.unsqueeze(1).repeat(1, 2, 1, 1, 1), same_geometry=True)
    assert not torch.allclose(comps[:, 0], comps[:, 1])
    assert not torch.allclose(view, comps[:, 0])


# ------------------------------------------------------------------ errors


def test_rgb_needs_three_channels() -> None:
    with pytest.raises(ValueError, match=r"'rgb' pipeline needs 3 channels, got 5"):
        SSLAugment("rgb")(images(2, 5))


def test_uint8_input_raises() -> None:
    x = (images(2) * 255).to(torch.uint8)
    with pytest.raises(ValueError, match=r"x must be float in \[0, 1\], got dtype torch.uint8"):
        SSLAugment("rgb")(x)
    with pytest.raises(ValueError, match=r"x must be float"):
        SSLAugment("rgb").with_components(x, x.unsqueeze(1).float(), same_geometry=True)


def test_input_must_be_4d() -> None:
    with pytest.raises(ValueError, match=r"x must be \(B, C, H, W\), got shape \(3, 16, 16\)"):
        SSLAugment("rgb")(torch.rand(3, 16, 16))


def test_bad_kind_and_crop_scale() -> None:
    with pytest.raises(ValueError, match=r"kind is 'hsv'"):
        SSLAugment("hsv")
    for scale in [(0.0, 1.0), (0.8, 0.5), (0.5, 1.2)]:
        with pytest.raises(ValueError, match=r"crop_scale must satisfy"):
            SSLAugment("rgb", crop_scale=scale)


# ------------------------------------------------------------------ channel intensity


def test_channel_intensity_identities() -> None:
    x = images(5, 7)
    assert torch.equal(RandomChannelIntensity(strength=0.0, p=1.0)(x), x)
    assert torch.equal(RandomChannelIntensity(strength=0.8, p=0.0)(x), x)


def test_channel_intensity_is_gain_and_offset_per_channel() -> None:
    x = images(64, 4)
    strength = 0.4
    y = RandomChannelIntensity(strength=strength, p=1.0)(x)
    # recover gain and offset of each (sample, channel) from two pixels
    flat_x, flat_y = x.flatten(2), y.flatten(2)
    gain = (flat_y[..., 1] - flat_y[..., 0]) / (flat_x[..., 1] - flat_x[..., 0])
    offset = flat_y[..., 0] - gain * flat_x[..., 0]
    assert torch.allclose(flat_y, gain[..., None] * flat_x + offset[..., None], atol=1e-4)
    assert gain.min() >= 1 - strength - 1e-3 and gain.max() <= 1 + strength + 1e-3
    assert offset.abs().max() <= strength / 2 + 1e-3
    assert gain.std() > 0.1  # drawn per sample and channel, not one factor for all


def test_channel_intensity_probability() -> None:
    x = images(400, 2, 4, 4)
    y = RandomChannelIntensity(strength=0.5, p=0.25)(x)
    changed = (~torch.isclose(y, x)).flatten(1).any(1).float().mean().item()
    assert abs(changed - 0.25) < 0.08


@pytest.mark.parametrize("strength, p", [(-0.1, 0.5), (0.4, 1.5), (0.4, -0.1)])
def test_channel_intensity_bad_arguments(strength: float, p: float) -> None:
    with pytest.raises(ValueError, match=r"strength must be >= 0 and p in \[0, 1\]"):
        RandomChannelIntensity(strength, p)


def test_photometric_channels_leave_the_other_channels_untouched_but_moved() -> None:
    torch.manual_seed(0)
    augment = SSLAugment("channels", photometric_channels=1, jitter=0.8, jitter_p=1.0, crop_scale=(0.3, 1.0))
    x = torch.rand(32, 4, 16, 16)
    x[:, 1:] = (torch.rand(32, 3, 1, 1) > 0.5).float()  # constant planes
    y = augment(x)
    assert torch.allclose(y[:, 1:], x[:, 1:], atol=1e-6)  # a constant plane survives crop and flip
    assert not torch.allclose(y[:, :1], x[:, :1], atol=1e-3)
    with pytest.raises(ValueError, match="photometric_channels=1 needs kind='channels'"):
        SSLAugment("rgb", photometric_channels=1)


# ------------------------------------------------------------------ the batched pipeline's parts


def test_crop_draws_are_per_sample_in_range_and_inside_the_image() -> None:
    from splicer_tutorial.augment import sample_crop_flip

    params = sample_crop_flip(4000, 64, 32, scale=(0.25, 1.0), flip_p=0.3)
    area, ratio, box, flip = params["area"], params["ratio"], params["box"], params["flip"]
    assert area.min() >= 0.25 and area.max() <= 1.0
    assert area.std() > 0.15  # drawn per sample: U(0.25, 1) has sd 0.217
    aspect = 32 / 64
    assert ratio.min() >= aspect * 3 / 4 - 1e-6 and ratio.max() <= aspect * 4 / 3 + 1e-6
    left, top, w, h = box.unbind(1)
    assert torch.allclose(w * h / (64 * 32), area, atol=1e-4)  # the area is exactly the one drawn
    assert torch.allclose(w / h, ratio, atol=1e-4)
    assert (left >= 0).all() and (top >= 0).all() and (left + w <= 32 + 1e-4).all() and (top + h <= 64 + 1e-4).all()
    assert abs(flip.float().mean().item() - 0.3) < 0.03  # binomial sd ~0.007


def test_crop_flip_cuts_the_box_it_is_given() -> None:
    from splicer_tutorial.augment import crop_flip

    ramp = torch.arange(16.0).repeat(2, 1, 8, 1)  # (2, 1, 8, 16): value = column index
    box = torch.tensor([[4.0, 0.0, 8.0, 8.0], [4.0, 0.0, 8.0, 8.0]])  # columns 4..12, all rows
    out = crop_flip(ramp, {"box": box, "flip": torch.tensor([False, True])})
    # output column j samples input column 4 + (j + 0.5) * 8 / 16 - 0.5; bilinear keeps a ramp exact
    expected = 4 + (torch.arange(16.0) + 0.5) / 2 - 0.5
    assert torch.allclose(out[0, 0, 3, 1:-1], expected[1:-1], atol=1e-5)
    assert torch.allclose(out[1, 0, 3, 1:-1], expected.flip(0)[1:-1], atol=1e-5)  # mirrored
    whole = torch.tensor([[0.0, 0.0, 16.0, 8.0]] * 2)
    assert torch.allclose(crop_flip(ramp, {"box": whole, "flip": torch.tensor([False, False])}), ramp, atol=1e-5)


def test_colour_jitter_identities_and_grayscale() -> None:
    from splicer_tutorial.augment import ColourJitter

    x = images(8)
    assert torch.allclose(ColourJitter(0.0, p=1.0, grayscale_p=0.0)(x), x, atol=1e-5)
    assert torch.allclose(ColourJitter(0.8, p=0.0, grayscale_p=0.0)(x), x, atol=1e-5)
    grey = ColourJitter(0.0, p=0.0, grayscale_p=1.0)(x)
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    # jitter at p=0.5: about half the samples change
    many = images(400, 3, 4, 4)
    changed = ~torch.isclose(ColourJitter(0.4, p=0.5, grayscale_p=0.0)(many), many, atol=1e-4).flatten(1).all(1)
    assert abs(changed.float().mean().item() - 0.5) < 0.1
    with pytest.raises(ValueError, match="grayscale_p=2"):
        ColourJitter(0.4, grayscale_p=2)


def test_brightness_factor_stays_in_range() -> None:
    from splicer_tutorial.augment import ColourJitter

    x = torch.full((500, 3, 2, 2), 0.5)
    jitter = ColourJitter(0.4, p=1.0, grayscale_p=0.0)
    factors = jitter.factor(500, 0.4, 1.0, torch.ones(500, dtype=torch.bool))
    assert factors.min() >= 0.6 and factors.max() <= 1.4 and factors.std() > 0.15
    assert jitter(x).shape == x.shape
